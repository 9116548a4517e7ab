package dev.sluice.bench.kstreams;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;

/** Output values of the queries; the property order is the contract's key order. */
final class Output {
    private Output() {}

    @JsonPropertyOrder({"auction", "bidder", "price", "date_time"})
    record Q1(long auction, long bidder, long price, @JsonProperty("date_time") long dateTime) {}

    @JsonPropertyOrder({"auction", "price"})
    record Q2(long auction, long price) {}

    @JsonPropertyOrder({"name", "city", "state", "id"})
    record Q3(String name, String city, String state, long id) {}

    @JsonPropertyOrder({"id", "name", "reserve"})
    record Q8(long id, String name, long reserve) {}

    @JsonPropertyOrder({"auction", "window_start", "window_end", "count"})
    record Q5(long auction, @JsonProperty("window_start") long windowStart,
              @JsonProperty("window_end") long windowEnd, long count) {}

    @JsonPropertyOrder({"auction", "window_start", "window_end", "max_price"})
    record Q7(long auction, @JsonProperty("window_start") long windowStart,
              @JsonProperty("window_end") long windowEnd, @JsonProperty("max_price") long maxPrice) {}

    @JsonPropertyOrder({"bidder", "window_start", "window_end", "count"})
    record Q11(long bidder, @JsonProperty("window_start") long windowStart,
               @JsonProperty("window_end") long windowEnd, long count) {}
}
