// Value-parameterized fixture: each test runs once against the emulator and
// once against a private named kernel hierarchy (`none,name=zz_itest_...`).
// Instantiations are named Backends/<Suite>.<Test>/Emulator and .../Kernel,
// so --gtest_filter='*Kernel*' selects the kernel side.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mount_harness.h"

namespace itest {

class FsTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    std::string skip, err;
    m_ = CgroupMount::Make(GetParam(), NamedOptions(), &skip, &err);
    if (!m_) {
      if (!skip.empty()) GTEST_SKIP() << skip;
      FAIL() << err;
    }
  }
  void TearDown() override { m_.reset(); }

  std::string P(std::string_view rel = {}) const { return m_->Path(rel); }
  int Mkdir(std::string_view rel, mode_t mode = 0755) const {
    return Errno(::mkdir(P(rel).c_str(), mode));
  }
  int Rmdir(std::string_view rel) const { return Errno(::rmdir(P(rel).c_str())); }
  int Write(std::string_view rel, std::string_view data, ssize_t* n = nullptr) const {
    return WriteStr(P(rel), data, n);
  }
  std::string Read(std::string_view rel) const { return ReadOrErr(P(rel)); }
  std::vector<pid_t> Pids(std::string_view rel) const { return ParsePids(ReadAll(P(rel)).data); }
  bool IsRoot() const { return geteuid() == 0; }

  std::unique_ptr<CgroupMount> m_;
};

inline std::string BackendParamName(const ::testing::TestParamInfo<Backend>& info) {
  return BackendName(info.param);
}

#define ITEST_INSTANTIATE_BACKENDS(Suite)                                           \
  INSTANTIATE_TEST_SUITE_P(Backends, Suite,                                         \
                           ::testing::Values(::itest::Backend::kEmulator,           \
                                             ::itest::Backend::kKernel),            \
                           ::itest::BackendParamName)

}  // namespace itest
