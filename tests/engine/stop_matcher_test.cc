// Stop strings across piece boundaries: cut before the match, held back while a match may form.
#include "engine/stop_matcher.h"

#include "gtest/gtest.h"

namespace rattn::engine {
namespace {

TEST(StopMatcherTest, MatchAcrossPiecesIsCutAndNeverEmitted) {
  StopMatcher matcher({"END", "xyz"});
  bool stopped = false;
  std::string out;
  out += matcher.Append("hello E", &stopped);
  EXPECT_FALSE(stopped);
  EXPECT_EQ(out, "hello ") << "'E' may start 'END': held back";
  out += matcher.Append("N", &stopped);
  EXPECT_EQ(out, "hello ");
  out += matcher.Append("D and more", &stopped);
  EXPECT_TRUE(stopped);
  EXPECT_EQ(out, "hello ");
}

TEST(StopMatcherTest, FalseStartIsReleased) {
  StopMatcher matcher({"END"});
  bool stopped = false;
  EXPECT_EQ(matcher.Append("aE", &stopped), "a");
  EXPECT_EQ(matcher.Append("N", &stopped), "");
  EXPECT_EQ(matcher.Append("x", &stopped), "ENx");
  EXPECT_FALSE(stopped);
  EXPECT_EQ(matcher.Append("EN", &stopped), "");
  EXPECT_EQ(matcher.Flush(), "EN") << "at the end the held-back tail is final";
}

TEST(StopMatcherTest, EarliestOfSeveralStopsWins) {
  StopMatcher matcher({"bc", "abcd"});
  bool stopped = false;
  EXPECT_EQ(matcher.Append("xxabcd", &stopped), "xx") << "abcd starts before bc";
  EXPECT_TRUE(stopped);
}

TEST(StopMatcherTest, NoStopsPassesEverythingThrough) {
  StopMatcher matcher({});
  bool stopped = true;
  EXPECT_EQ(matcher.Append("abc", &stopped), "abc");
  EXPECT_FALSE(stopped);
  EXPECT_EQ(matcher.Flush(), "");
}

}  // namespace
}  // namespace rattn::engine
