// kstrtoull/kstrtoll/kstrtoint/strstrip against lib/kstrtox.c, lib/string.c
// and the write-path tables of the spec (§1.4, §3.1, §9 pids.max, §11
// cpuacct.usage).
#include "engine/kernel_parse.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <climits>
#include <string>
#include <string_view>

namespace cgemu {
namespace {

using namespace std::string_literals;

constexpr unsigned long long kUntouched = 0xdeadbeefull;

struct UllCase {
  std::string input;  // std::string so that cases may hold an embedded NUL
  int rc;
  unsigned long long value;  // expected on success
};

void PrintTo(const UllCase& c, std::ostream* os) { *os << testing::PrintToString(c.input); }

class Kstrtoull : public testing::TestWithParam<UllCase> {};

TEST_P(Kstrtoull, Base0) {
  const UllCase& c = GetParam();
  unsigned long long out = kUntouched;
  EXPECT_EQ(kstrtoull(c.input, 0, &out), c.rc);
  // On error the result is not touched, as in the kernel.
  EXPECT_EQ(out, c.rc == 0 ? c.value : kUntouched);
}

INSTANTIATE_TEST_SUITE_P(
    WriteU64Files, Kstrtoull,
    testing::Values(
        // Accepted spellings.
        UllCase{"1234", 0, 1234}, UllCase{"1234\n", 0, 1234}, UllCase{"+1234", 0, 1234},
        UllCase{"+5", 0, 5}, UllCase{"0x4d2", 0, 1234}, UllCase{"0X4D2", 0, 1234},
        UllCase{"02322", 0, 1234}, UllCase{"0", 0, 0}, UllCase{"00", 0, 0}, UllCase{"0x0", 0, 0},
        UllCase{"0\n", 0, 0}, UllCase{"+0\n", 0, 0}, UllCase{"0xf\n", 0, 15},
        UllCase{"18446744073709551615", 0, ULLONG_MAX},
        UllCase{"0xffffffffffffffff", 0, ULLONG_MAX},
        UllCase{"01777777777777777777777", 0, ULLONG_MAX},
        // The buffer ends at the first NUL: "0\0junk" is "0".
        UllCase{"0\0junk"s, 0, 0}, UllCase{"7\n\0junk"s, 0, 7},
        // Whitespace: exactly one trailing '\n' and nothing else.
        UllCase{"1234\n\n", -EINVAL, 0}, UllCase{"0\n\n", -EINVAL, 0}, UllCase{" 1", -EINVAL, 0},
        UllCase{"1 ", -EINVAL, 0}, UllCase{"\n", -EINVAL, 0}, UllCase{"\n1", -EINVAL, 0},
        UllCase{"1\r", -EINVAL, 0}, UllCase{"1\t", -EINVAL, 0},
        // Syntax.
        UllCase{"", -EINVAL, 0}, UllCase{"\0"s, -EINVAL, 0}, UllCase{"+", -EINVAL, 0},
        UllCase{"++1", -EINVAL, 0}, UllCase{"+-1", -EINVAL, 0}, UllCase{"-1", -EINVAL, 0},
        UllCase{"-0", -EINVAL, 0}, UllCase{"abc", -EINVAL, 0}, UllCase{"1234x", -EINVAL, 0},
        UllCase{"1234 5678", -EINVAL, 0}, UllCase{"1234,5678", -EINVAL, 0},
        UllCase{"1\n2\n", -EINVAL, 0}, UllCase{"0x", -EINVAL, 0}, UllCase{"0x\n", -EINVAL, 0},
        UllCase{"0xg", -EINVAL, 0}, UllCase{"08", -EINVAL, 0}, UllCase{"09", -EINVAL, 0},
        UllCase{"1.5", -EINVAL, 0}, UllCase{"1e3", -EINVAL, 0},
        // Overflow.
        UllCase{"18446744073709551616", -ERANGE, 0}, UllCase{"99999999999999999999", -ERANGE, 0},
        UllCase{"0x10000000000000000", -ERANGE, 0},
        UllCase{"02000000000000000000000", -ERANGE, 0},
        // Overflow is reported before trailing garbage is looked at.
        UllCase{"99999999999999999999x", -ERANGE, 0},
        UllCase{"99999999999999999999\n\n", -ERANGE, 0}));

// cpuacct.usage accepts only the value 0, in any spelling kstrtoull takes.
TEST(Kstrtoull, CpuacctUsageResetSpellings) {
  for (std::string_view zero : {"0", "0x0", "00", "0\n", "+0"}) {
    unsigned long long out = kUntouched;
    EXPECT_EQ(kstrtoull(zero, 0, &out), 0) << zero;
    EXPECT_EQ(out, 0u) << zero;
  }
  for (std::string_view bad : {" 0", "0 "}) {
    unsigned long long out = kUntouched;
    EXPECT_EQ(kstrtoull(bad, 0, &out), -EINVAL) << bad;
  }
}

TEST(Kstrtoull, ExplicitBase) {
  unsigned long long out = kUntouched;
  EXPECT_EQ(kstrtoull("ff", 16, &out), 0);
  EXPECT_EQ(out, 255u);
  EXPECT_EQ(kstrtoull("0xff", 16, &out), 0);
  EXPECT_EQ(out, 255u);
  EXPECT_EQ(kstrtoull("0XFF\n", 16, &out), 0);
  EXPECT_EQ(out, 255u);
  // Base 16 strips "0x" even with no digit after it; nothing is left to parse.
  EXPECT_EQ(kstrtoull("0x", 16, &out), -EINVAL);
  EXPECT_EQ(kstrtoull("010", 10, &out), 0);
  EXPECT_EQ(out, 10u);
  EXPECT_EQ(kstrtoull("0x10", 10, &out), -EINVAL);
  EXPECT_EQ(kstrtoull("0x10", 8, &out), -EINVAL);
  EXPECT_EQ(kstrtoull("17", 8, &out), 0);
  EXPECT_EQ(out, 15u);
  EXPECT_EQ(kstrtoull("18", 8, &out), -EINVAL);
}

struct LlCase {
  std::string input;
  int rc;
  long long value;
};

void PrintTo(const LlCase& c, std::ostream* os) { *os << testing::PrintToString(c.input); }

class Kstrtoll : public testing::TestWithParam<LlCase> {};

TEST_P(Kstrtoll, Base0) {
  const LlCase& c = GetParam();
  constexpr long long kLlUntouched = -0x5eed;
  long long out = kLlUntouched;
  EXPECT_EQ(kstrtoll(c.input, 0, &out), c.rc);
  EXPECT_EQ(out, c.rc == 0 ? c.value : kLlUntouched);
}

INSTANTIATE_TEST_SUITE_P(
    WriteS64Files, Kstrtoll,
    testing::Values(
        LlCase{"0", 0, 0}, LlCase{"-0", 0, 0}, LlCase{"-1", 0, -1}, LlCase{"-1\n", 0, -1},
        LlCase{"+5", 0, 5}, LlCase{"-5", 0, -5}, LlCase{"-0x10", 0, -16}, LlCase{"-010", 0, -8},
        LlCase{"0x10", 0, 16}, LlCase{"010", 0, 8}, LlCase{"1000\n", 0, 1000},
        LlCase{"9223372036854775807", 0, LLONG_MAX}, LlCase{"-9223372036854775808", 0, LLONG_MIN},
        LlCase{"-9223372036854775807", 0, -LLONG_MAX},
        // Out of the signed range.
        LlCase{"9223372036854775808", -ERANGE, 0}, LlCase{"-9223372036854775809", -ERANGE, 0},
        LlCase{"18446744073709551615", -ERANGE, 0}, LlCase{"-18446744073709551615", -ERANGE, 0},
        LlCase{"99999999999999999999", -ERANGE, 0}, LlCase{"-99999999999999999999", -ERANGE, 0},
        // Syntax: one sign, no whitespace but one trailing '\n'.
        LlCase{"", -EINVAL, 0}, LlCase{"-", -EINVAL, 0}, LlCase{"-\n", -EINVAL, 0},
        LlCase{"--5", -EINVAL, 0}, LlCase{"-+5", -EINVAL, 0}, LlCase{"+-5", -EINVAL, 0},
        LlCase{"- 5", -EINVAL, 0}, LlCase{" -5", -EINVAL, 0}, LlCase{"-5 ", -EINVAL, 0},
        LlCase{"-5\n\n", -EINVAL, 0}, LlCase{"max", -EINVAL, 0}, LlCase{"-0x", -EINVAL, 0}));

TEST(Kstrtoint, NarrowsToInt) {
  int out = 7;
  EXPECT_EQ(kstrtoint("2147483647", 0, &out), 0);
  EXPECT_EQ(out, INT_MAX);
  EXPECT_EQ(kstrtoint("-2147483648", 0, &out), 0);
  EXPECT_EQ(out, INT_MIN);
  EXPECT_EQ(kstrtoint("-0", 0, &out), 0);
  EXPECT_EQ(out, 0);
  out = 7;
  EXPECT_EQ(kstrtoint("2147483648", 0, &out), -ERANGE);
  EXPECT_EQ(kstrtoint("-2147483649", 0, &out), -ERANGE);
  EXPECT_EQ(kstrtoint("99999999999", 0, &out), -ERANGE);
  EXPECT_EQ(kstrtoint("0x100000000", 0, &out), -ERANGE);
  EXPECT_EQ(kstrtoint("99999999999999999999", 0, &out), -ERANGE);
  EXPECT_EQ(kstrtoint("1234x", 0, &out), -EINVAL);
  EXPECT_EQ(out, 7);
}

// The pid parse of tasks/cgroup.procs: kstrtoint(strstrip(buf), 0) (§3.1).
// The handler then maps any error, and negative pids, to EINVAL.
TEST(Kstrtoint, TasksFileTable) {
  for (std::string_view ok : {"1234", "1234\n", " 1234 \n", "1234\n\n", "+1234", "0x4d2", "02322"}) {
    int pid = 0;
    EXPECT_EQ(kstrtoint(strstrip(ok), 0, &pid), 0) << ok;
    EXPECT_EQ(pid, 1234) << ok;
  }
  for (std::string_view bad : {"", "\n", "1234 5678", "1234,5678", "1\n2\n", "abc", "1234x"}) {
    int pid = 0;
    EXPECT_EQ(kstrtoint(strstrip(bad), 0, &pid), -EINVAL) << bad;
  }
  int pid = 0;
  EXPECT_EQ(kstrtoint(strstrip("-1"), 0, &pid), 0);
  EXPECT_EQ(pid, -1);
  EXPECT_EQ(kstrtoint(strstrip("-5"), 0, &pid), 0);
  EXPECT_EQ(pid, -5);
  pid = 1;
  EXPECT_EQ(kstrtoint(strstrip("-0"), 0, &pid), 0);  // pid 0 = the writer itself
  EXPECT_EQ(pid, 0);
  EXPECT_EQ(kstrtoint(strstrip("99999999999"), 0, &pid), -ERANGE);
}

// pids.max: strstrip, then kstrtoll(…, 0) (§9).
TEST(Kstrtoll, PidsMaxTable) {
  const std::pair<std::string_view, long long> accepted[] = {
      {"0x10", 16}, {"010", 8}, {"+5", 5}, {" 7\n", 7}, {"4194304", 4194304}, {"-1", -1}};
  for (const auto& [text, value] : accepted) {
    long long out = 0;
    EXPECT_EQ(kstrtoll(strstrip(text), 0, &out), 0) << text;
    EXPECT_EQ(out, value) << text;
  }
  long long out = 0;
  for (std::string_view bad : {"MAX", "abc", "\n", "5 6"})
    EXPECT_EQ(kstrtoll(strstrip(bad), 0, &out), -EINVAL) << bad;
  EXPECT_EQ(kstrtoll(strstrip("99999999999999999999"), 0, &out), -ERANGE);
}

TEST(Strstrip, RemovesAllSurroundingWhitespace) {
  EXPECT_EQ(strstrip("  a b \t\n"), "a b");
  EXPECT_EQ(strstrip("x y z"), "x y z");
  EXPECT_EQ(strstrip(""), "");
  EXPECT_EQ(strstrip(" \n\t\v\f\r"), "");
  EXPECT_EQ(strstrip("\v6\f"), "6");
  EXPECT_EQ(strstrip("7\r"), "7");
  EXPECT_EQ(strstrip("1234\n\n"), "1234");
  EXPECT_EQ(strstrip("1\n2\n"), "1\n2");
  // The kernel's isspace() includes Latin-1 NBSP (0xA0) but not NEL (0x85);
  // pids.max accepted "\xa05\xa0" and rejected "\x858" on the reference kernel.
  EXPECT_EQ(strstrip("\xa0" "5\xa0"), "5");
  EXPECT_EQ(strstrip("\x85" "8"), "\x85" "8");
  // The buffer ends at the first NUL.
  EXPECT_EQ(strstrip(" x \0 y"s), "x");
}

TEST(KernelCtype, Isspace) {
  for (char c : " \t\n\v\f\r\xa0"s) EXPECT_TRUE(kernel_isspace(c)) << int(c);
  for (char c : "\0a0_\x85\xff\x1c"s) EXPECT_FALSE(kernel_isspace(c)) << int(c);
}

TEST(KernelCtype, IsalnumIncludesLatin1Letters) {
  for (char c : "09azAZ\xc0\xd6\xd8\xdf\xe9\xf6\xf8\xff"s) EXPECT_TRUE(kernel_isalnum(c)) << int(c);
  for (char c : "\0 ._-/@[`{\x7f\x80\xa0\xa9\xbf\xd7\xf7"s) EXPECT_FALSE(kernel_isalnum(c)) << int(c);
}

}  // namespace
}  // namespace cgemu
