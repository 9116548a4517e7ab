package dev.sluice.bench.kstreams;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * One input event of the sluice-nexmark contract: a flat JSON object whose "type" is "person", "auction"
 * or "bid". A single class holds the union of the three field sets; the fields a type does not have stay
 * null and are left out when the event is serialized again (the q11 repartition topic carries bids only,
 * so they are written back as the bid's own fields).
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public final class Event {
    public String type;

    // person and auction
    public Long id;
    // person
    public String name;
    public String email;
    @JsonProperty("credit_card") public String creditCard;
    public String city;
    public String state;
    // auction
    @JsonProperty("item_name") public String itemName;
    public String description;
    @JsonProperty("initial_bid") public Long initialBid;
    public Long reserve;
    public Long expires;
    public Long seller;
    public Long category;
    // bid
    public Long auction;
    public Long bidder;
    public Long price;
    public String channel;
    public String url;
    // all
    @JsonProperty("date_time") public Long dateTime;
    public String extra;

    public boolean isBid() {
        return "bid".equals(type);
    }
}
