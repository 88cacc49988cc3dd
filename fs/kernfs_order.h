// Directory listing order of kernfs (fs/kernfs/dir.c): entries sorted by
// (kernfs_name_hash(name), name), which `ls -f` on cgroupfs shows.
#pragma once

#include <cstdint>
#include <string_view>

namespace cgemu {

uint32_t kernfs_name_hash(std::string_view name);
// True if a sorts before b in a kernfs directory.
bool kernfs_name_less(std::string_view a, std::string_view b);

}  // namespace cgemu
