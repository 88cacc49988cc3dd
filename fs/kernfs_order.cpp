// kernfs_name_hash() of fs/kernfs/dir.c with ns == NULL, built from
// include/linux/stringhash.h (partial_name_hash, end_name_hash) and
// include/linux/hash.h (hash_long on 64-bit = hash_64).
#include "fs/kernfs_order.h"

namespace cgemu {
namespace {

constexpr uint64_t kGoldenRatio64 = 0x61C8864680B583EBull;  // GOLDEN_RATIO_64
constexpr uint32_t kIntMax = 0x7fffffffu;

// partial_name_hash(). The byte is taken unsigned: kernels since 6.2 build
// with -funsigned-char, and names with bytes >= 0x80 were checked to sort
// that way on the 6.18 reference machine.
uint64_t partial_name_hash(unsigned char c, uint64_t prevhash) {
  return (prevhash + (uint64_t{c} << 4) + (c >> 4)) * 11;
}

// end_name_hash() = hash_long(hash, 32): the top 32 bits of hash * GOLDEN_RATIO_64.
uint32_t end_name_hash(uint64_t hash) { return static_cast<uint32_t>((hash * kGoldenRatio64) >> 32); }

}  // namespace

uint32_t kernfs_name_hash(std::string_view name) {
  uint64_t hash = 0;  // init_name_hash(NULL)
  for (const char c : name) hash = partial_name_hash(static_cast<unsigned char>(c), hash);
  uint32_t result = end_name_hash(hash) & kIntMax;
  // 0, 1 and INT_MAX are reserved for the readdir positions of ".", ".." and EOF.
  if (result < 2) result += 2;
  if (result >= kIntMax) result = kIntMax - 1;
  return result;
}

bool kernfs_name_less(std::string_view a, std::string_view b) {
  const uint32_t hash_a = kernfs_name_hash(a);
  const uint32_t hash_b = kernfs_name_hash(b);
  if (hash_a != hash_b) return hash_a < hash_b;
  // strcmp() order: char_traits<char> compares bytes as unsigned char, as the
  // kernel's strcmp does.
  return a < b;
}

}  // namespace cgemu
