// Entry point: hands the arguments and environment to the command line (src/app/cli.cpp).
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "sluice/app/cli.hpp"

extern char** environ;

int main(int argc, char** argv) {
  std::vector<std::string> arguments(argv + 1, argv + argc);
  std::map<std::string, std::string> environment;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string text(*entry);
    auto equals = text.find('=');
    if (equals != std::string::npos) environment.emplace(text.substr(0, equals), text.substr(equals + 1));
  }
  try {
    return sluice::app::run_command_line(arguments, environment, std::cout, std::cerr);
  } catch (const std::exception& error) {
    std::cerr << "sluice: internal error: " << error.what() << "\n";
    return sluice::app::exit_failure;
  }
}
