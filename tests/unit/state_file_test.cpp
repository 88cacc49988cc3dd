#include "fs/state_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace cgemu {
namespace {

SavedState Sample() {
  SavedState s;
  s.mount = "rw,memory,name=x y";
  s.saved_at = 123456;
  s.top = SavedAttrs{0755, 1000, 1000};
  SavedCgroup root;
  root.path = "/";
  root.attrs = {0555, 0, 0};
  root.settings = {{"release_agent", "/bin/agent with space\n"}, {"notify_on_release", "0\n"}};
  SavedCgroup child;
  child.hierarchy = 1;
  child.path = "/a b/100%/\x01\xff";
  child.attrs = {0700, 65534, 65534};
  child.files["tasks"] = {0664, 65534, 0};
  child.xattrs["."]["user.x"] = std::string("bin\0ary\n", 8);
  child.xattrs["tasks"]["trusted.y"] = "";
  child.settings = {{"devices.list", "allow\nc 1:3 rwm\n"}, {"empty", ""}};
  s.cgroups = {root, child};
  s.tasks = {{100, 100, 5, 5, {"/", "/a b/100%/\x01\xff"}}, {101, 100, 0, 5, {"/", "/"}}};
  return s;
}

std::string Format(const SavedState& s) {
  std::string out;
  append_state_header(out, s.mount, s.saved_at);
  if (s.top) append_state_top(out, *s.top);
  for (const SavedCgroup& c : s.cgroups) {
    append_state_cgroup(out, c.hierarchy, c.path);
    out += state_cgroup_body(c);
  }
  for (const SavedTask& t : s.tasks) append_state_task(out, t);
  append_state_end(out);
  return out;
}

TEST(StateFileFormat, EveryFieldRoundTripsWhateverBytesItHolds) {
  const SavedState s = Sample();
  const std::string text = Format(s);
  // One record a line, whatever the values hold.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 18);
  std::string error;
  auto back = parse_state(text, &error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(Format(*back), text);
  EXPECT_EQ(back->mount, s.mount);
  EXPECT_EQ(back->cgroups[1].path, s.cgroups[1].path);
  EXPECT_EQ(back->cgroups[1].xattrs["."]["user.x"], std::string("bin\0ary\n", 8));
  EXPECT_EQ(back->cgroups[1].xattrs["tasks"]["trusted.y"], "");
  EXPECT_EQ(back->cgroups[1].settings, s.cgroups[1].settings);
  EXPECT_EQ(back->cgroups[1].files["tasks"].mode, 0664u);
  EXPECT_EQ(back->tasks[1].start_time, 0u);
  EXPECT_EQ(back->tasks[0].paths, s.tasks[0].paths);
}

TEST(StateFileFormat, AnythingButAWholeStateIsRefusedWithItsLine) {
  const std::string text = Format(Sample());
  std::string error;
  EXPECT_FALSE(parse_state(text.substr(0, text.size() - 4), &error));
  EXPECT_NE(error.find("incomplete"), std::string::npos) << error;
  EXPECT_FALSE(parse_state(text.substr(0, text.size() - 1), &error));
  EXPECT_NE(error.find("unterminated"), std::string::npos) << error;
  EXPECT_FALSE(parse_state("something else\n", &error));
  EXPECT_EQ(error.rfind("line 1:", 0), 0u) << error;
  EXPECT_FALSE(parse_state(text + "more\n", &error));
  for (const char* bad : {"set before_any_cgroup 1", "cgroup 0 relative", "task 1 1 x 1 /", "attrs 999 0 0",
                          "xattr . %G0 v", "mount a b", "bogus"}) {
    const std::string with = "cgroupfs-emu state 1\n" + std::string(bad) + "\nend\n";
    EXPECT_FALSE(parse_state(with, &error)) << bad;
    EXPECT_EQ(error.rfind("line 2:", 0), 0u) << bad << ": " << error;
  }
}

TEST(StateFileFormat, SaveReplacesTheFileWholeAndLoadTellsAMissingFileFromABadOne) {
  char dir[] = "/tmp/cgemu_state_unit_XXXXXX";
  ASSERT_TRUE(mkdtemp(dir));
  StateFile file(std::string(dir) + "/state");
  std::string error;
  EXPECT_FALSE(file.load(&error));
  EXPECT_EQ(error, "") << "no file yet is no error";
  const std::string text = Format(Sample());
  ASSERT_EQ(file.save(text), 0);
  ASSERT_EQ(file.save(text), 0);
  EXPECT_NE(access((file.path() + ".tmp").c_str(), F_OK), 0) << "nothing left beside it";
  auto loaded = file.load(&error);
  ASSERT_TRUE(loaded) << error;
  EXPECT_EQ(Format(*loaded), text);
  { std::ofstream(file.path()) << "garbage\n"; }
  EXPECT_FALSE(file.load(&error));
  EXPECT_NE(error.find(file.path()), std::string::npos);
  EXPECT_EQ(StateFile(std::string(dir) + "/missing/state").save(text), -ENOENT);
  unlink(file.path().c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace cgemu
