// engine/kernel_parse.h against a reference written from lib/kstrtox.c and
// lib/string.c (strim), on NUL-terminated copies as the kernel sees them.
//
// Input: byte 0 picks the base (0, 8, 10, 16, 2 for kstrtox), the rest is the
// text. The text goes to the functions as is (NULs included); the reference
// sees it cut at the first NUL, which is what the kernel's C string is.
#include <cerrno>
#include <climits>
#include <string>

#include "engine/kernel_parse.h"
#include "reference_kstrtox.h"
#include "targets.h"

namespace cgemu::fuzz {
namespace {

// ---- the reference: lib/kstrtox.c, line for line (reference_kstrtox.h) -------

int ref_kstrtoull_(const char* s, unsigned base, unsigned long long* res) {
  unsigned long long r;
  s = ref_fixup_radix(s, &base);
  unsigned rv = ref_parse_integer(s, base, &r);
  if (rv & kOverflow) return -ERANGE;
  if (rv == 0) return -EINVAL;
  s += rv;
  if (*s == '\n') s++;
  if (*s) return -EINVAL;
  *res = r;
  return 0;
}

int ref_kstrtoull(const char* s, unsigned base, unsigned long long* res) {
  if (s[0] == '+') s++;
  return ref_kstrtoull_(s, base, res);
}

int ref_kstrtoll(const char* s, unsigned base, long long* res) {
  unsigned long long tmp;
  int rv;
  if (s[0] == '-') {
    rv = ref_kstrtoull_(s + 1, base, &tmp);
    if (rv < 0) return rv;
    if (static_cast<long long>(0ull - tmp) > 0) return -ERANGE;
    *res = static_cast<long long>(0ull - tmp);
  } else {
    rv = ref_kstrtoull(s, base, &tmp);
    if (rv < 0) return rv;
    if (static_cast<long long>(tmp) < 0) return -ERANGE;
    *res = static_cast<long long>(tmp);
  }
  return 0;
}

int ref_kstrtoint(const char* s, unsigned base, int* res) {
  long long tmp;
  int rv = ref_kstrtoll(s, base, &tmp);
  if (rv < 0) return rv;
  if (tmp != static_cast<int>(tmp)) return -ERANGE;
  *res = static_cast<int>(tmp);
  return 0;
}

// strim: trailing spaces cut, then skip_spaces.
std::string ref_strim(std::string s) {
  size_t end = s.size();
  while (end > 0 && ref_isspace(s[end - 1])) --end;
  s.resize(end);
  size_t start = 0;
  while (start < s.size() && ref_isspace(s[start])) ++start;
  return s.substr(start);
}

std::string describe(std::string_view text, unsigned base) {
  std::string out = "base " + std::to_string(base) + ", input (hex):";
  static const char kHex[] = "0123456789abcdef";
  for (unsigned char c : text) {
    out += ' ';
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

}  // namespace

int KernelParse(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static constexpr unsigned kBases[] = {0, 8, 10, 16, 2};
  const unsigned base = kBases[data[0] % std::size(kBases)];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string c_string(text.substr(0, text.find('\0')));  // what the kernel sees
  // Built only when a check fails.
  const auto what = [&] { return describe(text, base); };

  unsigned long long ull = 0, ref_ull = 0;
  const int rc_ull = kstrtoull(text, base, &ull);
  const int ref_rc_ull = ref_kstrtoull(c_string.c_str(), base, &ref_ull);
  FUZZ_CHECK(rc_ull == ref_rc_ull, "kstrtoull: rc " + std::to_string(rc_ull) + ", kernel " +
                                       std::to_string(ref_rc_ull) + "; " + what());
  if (rc_ull == 0) FUZZ_CHECK(ull == ref_ull, "kstrtoull value; " + what());

  long long ll = 0, ref_ll = 0;
  const int rc_ll = kstrtoll(text, base, &ll);
  const int ref_rc_ll = ref_kstrtoll(c_string.c_str(), base, &ref_ll);
  FUZZ_CHECK(rc_ll == ref_rc_ll, "kstrtoll: rc " + std::to_string(rc_ll) + ", kernel " +
                                     std::to_string(ref_rc_ll) + "; " + what());
  if (rc_ll == 0) FUZZ_CHECK(ll == ref_ll, "kstrtoll value; " + what());

  int i = 0, ref_i = 0;
  const int rc_i = kstrtoint(text, base, &i);
  const int ref_rc_i = ref_kstrtoint(c_string.c_str(), base, &ref_i);
  FUZZ_CHECK(rc_i == ref_rc_i, "kstrtoint: rc " + std::to_string(rc_i) + ", kernel " +
                                   std::to_string(ref_rc_i) + "; " + what());
  if (rc_i == 0) FUZZ_CHECK(i == ref_i, "kstrtoint value; " + what());
  // Errors are only ever these two.
  for (int rc : {rc_ull, rc_ll, rc_i}) FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE, what());

  const std::string_view stripped = strstrip(text);
  FUZZ_CHECK(stripped == ref_strim(c_string), "strstrip; " + what());
  // A view into the input, not a copy.
  if (!stripped.empty())
    FUZZ_CHECK(stripped.data() >= text.data() && stripped.data() + stripped.size() <= text.data() + text.size(),
               "strstrip points outside its input; " + what());
  static const bool isspace_checked = [] {
    for (unsigned c = 0; c < 256; ++c)
      FUZZ_CHECK(kernel_isspace(static_cast<char>(c)) == ref_isspace(static_cast<char>(c)),
                 "kernel_isspace(" + std::to_string(c) + ")");
    return true;
  }();
  (void)isspace_checked;
  return 0;
}

}  // namespace cgemu::fuzz
