// A reference port of lib/kstrtox.c's helpers, line for line, shared by the
// fuzz targets that check the emulator's parsers against the kernel's.
#pragma once

#include <climits>

namespace cgemu::fuzz {

inline constexpr unsigned kOverflow = 1u << 31;  // KSTRTOX_OVERFLOW

inline unsigned ref_tolower(unsigned c) { return c | 0x20; }
inline bool ref_isxdigit(char c) {
  unsigned uc = static_cast<unsigned char>(c);
  return (uc >= '0' && uc <= '9') || (uc >= 'a' && uc <= 'f') || (uc >= 'A' && uc <= 'F');
}
inline bool ref_isspace(char c) {  // lib/ctype.c: _S is 9-13, 32 and 160
  unsigned uc = static_cast<unsigned char>(c);
  return (uc >= 9 && uc <= 13) || uc == 32 || uc == 160;
}

inline const char* ref_fixup_radix(const char* s, unsigned* base) {
  if (*base == 0) {
    if (s[0] == '0') {
      if (ref_tolower(static_cast<unsigned char>(s[1])) == 'x' && ref_isxdigit(s[2]))
        *base = 16;
      else
        *base = 8;
    } else {
      *base = 10;
    }
  }
  if (*base == 16 && s[0] == '0' && ref_tolower(static_cast<unsigned char>(s[1])) == 'x') s += 2;
  return s;
}

inline unsigned ref_parse_integer(const char* s, unsigned base, unsigned long long* p) {
  unsigned long long res = 0;
  unsigned rv = 0;
  for (;;) {
    // `unsigned int c = *s` of a (signed) char: bytes >= 0x80 become huge.
    unsigned c = static_cast<unsigned>(static_cast<int>(static_cast<signed char>(*s)));
    unsigned lc = ref_tolower(c);
    unsigned val;
    if ('0' <= c && c <= '9')
      val = c - '0';
    else if ('a' <= lc && lc <= 'f')
      val = lc - 'a' + 10;
    else
      break;
    if (val >= base) break;
    if (res & (~0ull << 60)) {
      if (res > (ULLONG_MAX - val) / base) rv |= kOverflow;
    }
    res = res * base + val;
    rv++;
    s++;
  }
  *p = res;
  return rv;
}

}  // namespace cgemu::fuzz
