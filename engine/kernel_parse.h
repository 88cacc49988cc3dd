// Number and string parsing with the kernel's exact semantics (lib/kstrtox.c,
// lib/string.c), shared by every control file's write handler.
// Functions return 0 or a negative errno, as the kernel helpers do.
#pragma once

#include <string_view>

namespace cgemu {

// kstrtoull: optional leading '+'; base 0 auto-detects "0x" (hex) and a
// leading "0" (octal); no whitespace allowed except exactly one trailing '\n'.
// Errors: -EINVAL (bad syntax, empty), -ERANGE (overflow).
int kstrtoull(std::string_view s, unsigned base, unsigned long long* out);
// kstrtoll: as kstrtoull, plus a leading '-'.
int kstrtoll(std::string_view s, unsigned base, long long* out);
// kstrtoint: kstrtoll narrowed to int; out of range gives -ERANGE.
int kstrtoint(std::string_view s, unsigned base, int* out);
// strstrip: removes all leading and trailing isspace() characters.
std::string_view strstrip(std::string_view s);

// The kernel's <linux/ctype.h> classes (lib/ctype.c), which treat bytes
// 0xA0-0xFF as Latin-1: 0xA0 is a space, 0xC0-0xFF (except 0xD7, 0xF7) are
// letters. They differ from the C library's locale-dependent ones.
bool kernel_isspace(char c);
bool kernel_isalnum(char c);

}  // namespace cgemu

// ---- Bitmap lists (appended for the cpuset controller) ----------------------
// lib/bitmap-str.c's bitmap_parselist and vsprintf's "%*pbl", on a bitmap held
// as one bool per bit.
#include <string>
#include <vector>

namespace cgemu {

// bitmap_parselist: regions separated by ',' or whitespace ("0-3,8",
// "0-1023:2/256", "all", "N" for the last bit); the list ends at the first
// NUL or at a '\n' that ends a region. out is resized to nbits bits.
// Errors: -EINVAL (syntax), -ERANGE (a bit >= nbits), -EOVERFLOW (a number
// above UINT_MAX).
int bitmap_parselist(std::string_view s, unsigned nbits, std::vector<bool>* out);
// "%*pbl": "0-3,8"; the empty string for an empty bitmap.
std::string bitmap_print(const std::vector<bool>& bits);

}  // namespace cgemu

// ---- memparse (appended for the memory controller) --------------------------
// lib/vsprintf.c's simple_strtoull and lib/cmdline.c's memparse.
namespace cgemu {

// simple_strtoull: no sign and no whitespace; base 0 auto-detects "0x" (hex,
// only when a hex digit follows) and a leading "0" (octal). Consumes the
// longest run of digits; overflow wraps silently (mod 2^64). *consumed is the
// number of characters used (prefix included; 0 when no digit follows and
// there is no "0x" prefix to skip). The input is cut at its first NUL.
unsigned long long simple_strtoull(std::string_view s, unsigned base, std::size_t* consumed);
// memparse: simple_strtoull(s, 0), then one optional suffix k/K m/M g/G t/T
// p/P e/E, each a left shift by 10 per step down to K (wrapping, as the
// kernel's <<= does). *consumed counts the suffix. Never fails: callers
// check that the whole string was consumed (page_counter_memparse).
unsigned long long memparse(std::string_view s, std::size_t* consumed);

}  // namespace cgemu
