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
