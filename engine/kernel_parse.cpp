// A port of lib/kstrtox.c (_parse_integer_fixup_radix, _parse_integer,
// _kstrtoull, kstrtoull, kstrtoll, kstrtoint) and lib/string.c (strim).
//
// The kernel works on NUL-terminated strings and peeks one or two characters
// ahead ("0x" detection). To reproduce that exactly on a string_view, every
// input is first cut at its first NUL, and reads past the end yield '\0'.
#include "engine/kernel_parse.h"

#include <cerrno>
#include <climits>
#include <cstddef>

namespace cgemu {
namespace {

std::string_view until_nul(std::string_view s) { return s.substr(0, s.find('\0')); }

// s[i] as the kernel would see it: the terminating NUL past the end.
char char_at(std::string_view s, std::size_t i) { return i < s.size() ? s[i] : '\0'; }

// The kernel's _tolower(): only meaningful for letters, used on purpose as is.
unsigned fold_case(char c) { return static_cast<unsigned char>(c) | 0x20u; }

bool is_ascii_digit(unsigned c) { return c >= '0' && c <= '9'; }

// The kernel's isxdigit() is ASCII-only (_D|_X in lib/ctype.c).
bool kernel_isxdigit(char c) {
  const unsigned lc = fold_case(c);
  return is_ascii_digit(static_cast<unsigned char>(c)) || (lc >= 'a' && lc <= 'f');
}

// _parse_integer_fixup_radix: with base 0, "0x" followed by a hex digit means
// 16 and any other leading '0' means 8. A "0x" prefix is skipped in base 16
// even when no digit follows it, which later makes "0x" alone -EINVAL.
std::string_view fixup_radix(std::string_view s, unsigned* base) {
  if (*base == 0) {
    if (char_at(s, 0) == '0') {
      const bool hex = fold_case(char_at(s, 1)) == 'x' && kernel_isxdigit(char_at(s, 2));
      *base = hex ? 16 : 8;
    } else {
      *base = 10;
    }
  }
  if (*base == 16 && char_at(s, 0) == '0' && fold_case(char_at(s, 1)) == 'x') s.remove_prefix(2);
  return s;
}

struct ParsedDigits {
  std::size_t count = 0;  // digits consumed
  bool overflow = false;  // the value wrapped; digits are still consumed
  unsigned long long value = 0;
};

// _parse_integer: consumes the longest run of digits valid in base.
ParsedDigits parse_digits(std::string_view s, unsigned base) {
  ParsedDigits parsed;
  for (const char ch : s) {
    const unsigned c = static_cast<unsigned char>(ch);
    const unsigned lc = c | 0x20u;
    unsigned digit;
    if (is_ascii_digit(c))
      digit = c - '0';
    else if (lc >= 'a' && lc <= 'f')
      digit = lc - 'a' + 10;
    else
      break;
    if (digit >= base) break;
    // As in the kernel: only check once the value is within reach of overflow
    // in base 16, the largest base supported.
    if ((parsed.value & (~0ull << 60)) != 0 && parsed.value > (ULLONG_MAX - digit) / base)
      parsed.overflow = true;
    parsed.value = parsed.value * base + digit;
    ++parsed.count;
  }
  return parsed;
}

// _kstrtoull: no sign handling; s is already cut at its first NUL.
int kstrtoull_unsigned(std::string_view s, unsigned base, unsigned long long* out) {
  s = fixup_radix(s, &base);
  const ParsedDigits parsed = parse_digits(s, base);
  // Overflow wins over trailing garbage: "99999999999999999999x" is -ERANGE.
  if (parsed.overflow) return -ERANGE;
  if (parsed.count == 0) return -EINVAL;
  s.remove_prefix(parsed.count);
  if (char_at(s, 0) == '\n') s.remove_prefix(1);
  if (!s.empty()) return -EINVAL;
  *out = parsed.value;
  return 0;
}

}  // namespace

bool kernel_isspace(char c) {
  const auto uc = static_cast<unsigned char>(c);
  return uc == ' ' || (uc >= '\t' && uc <= '\r') || uc == 0xA0;
}

bool kernel_isalnum(char c) {
  const auto uc = static_cast<unsigned char>(c);
  if (uc < 0x80) return is_ascii_digit(uc) || (fold_case(c) >= 'a' && fold_case(c) <= 'z');
  // Latin-1 letters; 0xD7 (multiplication sign) and 0xF7 (division sign) are
  // punctuation.
  return uc >= 0xC0 && uc != 0xD7 && uc != 0xF7;
}

int kstrtoull(std::string_view s, unsigned base, unsigned long long* out) {
  s = until_nul(s);
  if (char_at(s, 0) == '+') s.remove_prefix(1);
  return kstrtoull_unsigned(s, base, out);
}

int kstrtoll(std::string_view s, unsigned base, long long* out) {
  s = until_nul(s);
  unsigned long long magnitude;
  if (char_at(s, 0) == '-') {
    // No '+' after '-': the sign is consumed here, not by kstrtoull.
    if (const int rc = kstrtoull_unsigned(s.substr(1), base, &magnitude); rc < 0) return rc;
    // -magnitude must be <= 0; "-0" is 0 and -2^63 is LLONG_MIN.
    const auto negated = static_cast<long long>(0ull - magnitude);
    if (negated > 0) return -ERANGE;
    *out = negated;
  } else {
    if (const int rc = kstrtoull(s, base, &magnitude); rc < 0) return rc;
    if (magnitude > static_cast<unsigned long long>(LLONG_MAX)) return -ERANGE;
    *out = static_cast<long long>(magnitude);
  }
  return 0;
}

int kstrtoint(std::string_view s, unsigned base, int* out) {
  long long value;
  if (const int rc = kstrtoll(s, base, &value); rc < 0) return rc;
  if (value < INT_MIN || value > INT_MAX) return -ERANGE;
  *out = static_cast<int>(value);
  return 0;
}

std::string_view strstrip(std::string_view s) {
  s = until_nul(s);
  while (!s.empty() && kernel_isspace(s.back())) s.remove_suffix(1);
  while (!s.empty() && kernel_isspace(s.front())) s.remove_prefix(1);
  return s;
}

}  // namespace cgemu
