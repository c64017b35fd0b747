//===- BoolFlagsTest.cpp - the drivers' True/False flags -------------------===//
//
// kiln/tools/BoolFlags.h on a CLI11 app set up as the drivers set theirs up
// (last value wins): "--flag" alone, "--flag=V" and "--flag V", and a bare
// flag followed by another option.
//===----------------------------------------------------------------------===//
#include "kiln/tools/BoolFlags.h"
#include "kiln/tools/Common.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using kiln::tools::addBoolFlag;
using kiln::tools::boolFlagValue;
using kiln::tools::parseBool;

/// What a driver sees after parsing `commandLine` (no program name).
struct Parsed {
  std::string nesterov = "false", noDecay = "false";
  double lr = -1;
};

Parsed parse(const std::string &commandLine) {
  Parsed p;
  CLI::App app{"test"};
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  addBoolFlag(app, "--nesterov", p.nesterov, "Nesterov momentum");
  addBoolFlag(app, "--no-decay-bn-bias", p.noDecay, "no decay");
  app.add_option("--lr", p.lr);
  app.parse(commandLine, /*program_name_included=*/false);
  return p;
}

bool nesterov(const std::string &commandLine) {
  return parseBool("--nesterov", parse(commandLine).nesterov);
}

TEST(BoolFlags, SpaceAndAttachedFormsAgree) {
  for (const char *v : {"True", "true", "1", "yes", "on", "TRUE"}) {
    EXPECT_TRUE(nesterov(std::string("--nesterov ") + v)) << v;
    EXPECT_TRUE(nesterov(std::string("--nesterov=") + v)) << v;
  }
  for (const char *v : {"False", "false", "0", "no", "off", "FALSE"}) {
    EXPECT_FALSE(nesterov(std::string("--nesterov ") + v)) << v;
    EXPECT_FALSE(nesterov(std::string("--nesterov=") + v)) << v;
  }
}

TEST(BoolFlags, AloneMeansTrueAndLeavesTheNextOptionAlone) {
  Parsed p = parse("--nesterov --lr 0.25 --no-decay-bn-bias");
  EXPECT_TRUE(parseBool("--nesterov", p.nesterov));
  EXPECT_TRUE(parseBool("--no-decay-bn-bias", p.noDecay)); // alone, last on the line
  EXPECT_EQ(p.lr, 0.25);
  p = parse("--nesterov --no-decay-bn-bias False --lr=0.5");
  EXPECT_TRUE(parseBool("--nesterov", p.nesterov));
  EXPECT_FALSE(parseBool("--no-decay-bn-bias", p.noDecay));
  EXPECT_EQ(p.lr, 0.5);
}

TEST(BoolFlags, AbsentKeepsTheDefaultAndTheLastValueWins) {
  EXPECT_FALSE(nesterov("--lr 0.1"));
  EXPECT_FALSE(nesterov("--nesterov True --nesterov False"));
  EXPECT_TRUE(nesterov("--nesterov=False --nesterov"));
}

TEST(BoolFlags, AnotherWordIsAOneLineError) {
  // The space form takes the next word as the value, so a typo is reported
  // (by parseBool, after parsing) instead of being silently ignored.
  Parsed p = parse("--nesterov maybe --lr 0.1");
  EXPECT_EQ(p.nesterov, "maybe");
  try {
    parseBool("--nesterov", p.nesterov);
    FAIL() << "no error for 'maybe'";
  } catch (const kiln::tools::ToolError &e) {
    EXPECT_STREQ(e.what(), "--nesterov: expected True/False, got 'maybe'");
  }
  EXPECT_FALSE(boolFlagValue("2").has_value());
  EXPECT_FALSE(boolFlagValue("truee").has_value());
  EXPECT_TRUE(*boolFlagValue(""));
}

} // namespace
