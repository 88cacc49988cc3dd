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

// ---- Bitmap lists (appended for the cpuset controller) ----------------------
// A port of lib/bitmap-str.c: bitmap_getnum, bitmap_find_region,
// bitmap_parse_region, bitmap_check_region, bitmap_set_region and
// bitmap_parselist; and of lib/vsprintf.c: bitmap_list_string.

#include <algorithm>
#include <string>

namespace cgemu {
namespace {

struct BitmapRegion {
  unsigned start = 0, off = 0, group_len = 0, end = 0, nbits = 0;
};

// Positions into s; s[i] past the end reads as the terminating NUL.
char bitmap_char(std::string_view s, std::size_t i) { return i < s.size() ? s[i] : '\0'; }
bool bitmap_end_of_str(char c) { return c == '\0' || c == '\n'; }
bool bitmap_end_of_region_sep(char c) { return kernel_isspace(c) || c == ','; }
bool bitmap_end_of_region(char c) { return bitmap_end_of_region_sep(c) || bitmap_end_of_str(c); }

// bitmap_getnum: 'N' is the last bit; else decimal digits (_parse_integer).
int bitmap_getnum(std::string_view s, std::size_t* pos, unsigned* num, unsigned lastbit) {
  if (bitmap_char(s, *pos) == 'N') {
    *num = lastbit;
    ++*pos;
    return 0;
  }
  unsigned long long n = 0;
  bool overflow = false;
  std::size_t len = 0;
  for (char c; (c = bitmap_char(s, *pos + len)) >= '0' && c <= '9'; ++len) {
    const unsigned digit = static_cast<unsigned>(c - '0');
    if (n > (ULLONG_MAX - digit) / 10) overflow = true;
    n = n * 10 + digit;
  }
  if (len == 0) return -EINVAL;
  if (overflow || n > UINT_MAX) return -EOVERFLOW;
  *num = static_cast<unsigned>(n);
  *pos += len;
  return 0;
}

// bitmap_parse_region: 0 with *pos after the region (npos when the list
// ended), or -errno.
int bitmap_parse_region(std::string_view s, std::size_t* pos, BitmapRegion* r) {
  const unsigned lastbit = r->nbits - 1;
  auto at = [&](std::size_t i) { return bitmap_char(s, i); };
  bool has_end = false;
  if ((at(*pos) | 0x20) == 'a' && (at(*pos + 1) | 0x20) == 'l' && (at(*pos + 2) | 0x20) == 'l') {
    r->start = 0;
    r->end = lastbit;
    *pos += 3;
    has_end = true;
  } else {
    if (int err = bitmap_getnum(s, pos, &r->start, lastbit)) return err;
    if (!bitmap_end_of_region(at(*pos))) {
      if (at(*pos) != '-') return -EINVAL;
      ++*pos;
      if (int err = bitmap_getnum(s, pos, &r->end, lastbit)) return err;
      has_end = true;
    }
  }
  if (!has_end) r->end = r->start;
  if (has_end && !bitmap_end_of_region(at(*pos))) {
    if (at(*pos) != ':') return -EINVAL;
    ++*pos;
    if (int err = bitmap_getnum(s, pos, &r->off, lastbit)) return err;
    if (at(*pos) != '/') return -EINVAL;
    ++*pos;
    // The kernel returns right after the group length: what follows is
    // looked at by the next bitmap_find_region.
    return bitmap_getnum(s, pos, &r->group_len, lastbit);
  }
  r->off = r->end + 1;
  r->group_len = r->end + 1;
  if (bitmap_end_of_str(at(*pos))) *pos = std::string_view::npos;
  return 0;
}

}  // namespace

int bitmap_parselist(std::string_view s, unsigned nbits, std::vector<bool>* out) {
  s = s.substr(0, s.find('\0'));
  out->assign(nbits, false);
  BitmapRegion r;
  r.nbits = nbits;
  std::size_t pos = 0;
  while (pos != std::string_view::npos) {
    // bitmap_find_region: separators may lead a region.
    while (bitmap_end_of_region_sep(bitmap_char(s, pos))) ++pos;
    if (bitmap_end_of_str(bitmap_char(s, pos))) return 0;
    if (int err = bitmap_parse_region(s, &pos, &r)) return err;
    // bitmap_check_region
    if (r.start > r.end || r.group_len == 0 || r.off > r.group_len) return -EINVAL;
    if (r.end >= r.nbits) return -ERANGE;
    // bitmap_set_region, in struct region's unsigned ints: start wraps past
    // 2^32 as the kernel's does ("1-3:1/4294967295" sets 0 and 1).
    for (unsigned start = r.start; start <= r.end; start += r.group_len) {
      const unsigned len = std::min(r.end - start + 1, r.off);
      for (unsigned bit = start; bit < start + len; ++bit) (*out)[bit] = true;
    }
  }
  return 0;
}

std::string bitmap_print(const std::vector<bool>& bits) {
  std::string out;
  for (std::size_t i = 0; i < bits.size();) {
    if (!bits[i]) {
      ++i;
      continue;
    }
    std::size_t top = i;
    while (top + 1 < bits.size() && bits[top + 1]) ++top;
    if (!out.empty()) out += ',';
    out += std::to_string(i);
    if (top != i) out += '-' + std::to_string(top);
    i = top + 1;
  }
  return out;
}

}  // namespace cgemu

// ---- memparse (appended for the memory controller) --------------------------
// lib/vsprintf.c: simple_strntoull(cp, endp, base, INT_MAX), which uses the
// same _parse_integer_fixup_radix and _parse_integer as kstrtoull but
// ignores overflow (the digits are still consumed and the value wraps);
// lib/cmdline.c: memparse.
namespace cgemu {

unsigned long long simple_strtoull(std::string_view s, unsigned base, std::size_t* consumed) {
  s = until_nul(s);
  const std::string_view digits = fixup_radix(s, &base);
  const std::size_t prefix = s.size() - digits.size();
  const ParsedDigits parsed = parse_digits(digits, base);
  if (consumed) *consumed = prefix + parsed.count;
  return parsed.value;
}

unsigned long long memparse(std::string_view s, std::size_t* consumed) {
  s = until_nul(s);
  std::size_t used = 0;
  unsigned long long value = simple_strtoull(s, 0, &used);
  int shifts = 0;
  switch (char_at(s, used)) {
    case 'E': case 'e': ++shifts; [[fallthrough]];
    case 'P': case 'p': ++shifts; [[fallthrough]];
    case 'T': case 't': ++shifts; [[fallthrough]];
    case 'G': case 'g': ++shifts; [[fallthrough]];
    case 'M': case 'm': ++shifts; [[fallthrough]];
    case 'K': case 'k': ++shifts; ++used; break;
    default: break;
  }
  for (int i = 0; i < shifts; ++i) value <<= 10;
  if (consumed) *consumed = used;
  return value;
}

}  // namespace cgemu
