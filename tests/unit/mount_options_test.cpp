// Mount options (§13.3): cgroup1_parse_param + check_cgroupfs_options, the
// FUSE pass-through, and the mountinfo super options. Error texts were checked
// against the 6.18 reference kernel with fsopen("cgroup") + fsconfig().
#include "fs/mount_options.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "controllers/subsystems.h"

namespace cgemu {
namespace {

uint32_t mask_of(std::initializer_list<std::string_view> names) {
  uint32_t mask = 0;
  for (std::string_view name : names) mask |= 1u << subsystem_id(name).value();
  return mask;
}

MountOptions parse_ok(std::string_view text) {
  MountOptionsResult result = parse_mount_options(text);
  EXPECT_TRUE(result.options.has_value()) << "\"" << text << "\" failed: " << result.error;
  EXPECT_EQ(result.error, "") << text;
  return result.options.value_or(MountOptions{});
}

std::string parse_error(std::string_view text) {
  MountOptionsResult result = parse_mount_options(text);
  EXPECT_FALSE(result.options.has_value()) << "\"" << text << "\" unexpectedly parsed";
  return result.error;
}

// ---- Controllers, all, none, name ----

TEST(ParseMountOptions, EmptyMeansAllEnabledControllers) {
  for (std::string_view text : {"", ",", ",,,", "all"}) {
    const MountOptions options = parse_ok(text);
    EXPECT_TRUE(options.all) << text;
    EXPECT_EQ(options.subsys_mask, enabled_subsystem_mask()) << text;
    EXPECT_EQ(options.name, "") << text;
    EXPECT_FALSE(options.none) << text;
  }
}

TEST(ParseMountOptions, NamedControllers) {
  EXPECT_EQ(parse_ok("cpu").subsys_mask, mask_of({"cpu"}));
  EXPECT_FALSE(parse_ok("cpu").all);
  EXPECT_EQ(parse_ok("cpu,cpuacct").subsys_mask, mask_of({"cpu", "cpuacct"}));
  EXPECT_EQ(parse_ok("cpuacct,cpu,cpu").subsys_mask, mask_of({"cpu", "cpuacct"}));
  EXPECT_EQ(parse_ok("memory,name=m").subsys_mask, mask_of({"memory"}));
  for (const Subsystem& subsystem : all_subsystems()) {
    if (!subsystem.enabled) continue;
    EXPECT_EQ(parse_ok(subsystem.legacy_name).subsys_mask, 1u << subsystem.ssid) << subsystem.legacy_name;
  }
}

TEST(ParseMountOptions, ValueAfterControllerNameIsIgnored) {
  EXPECT_EQ(parse_ok("cpu=whatever").subsys_mask, mask_of({"cpu"}));
  EXPECT_EQ(parse_ok("cpu=").subsys_mask, mask_of({"cpu"}));
}

TEST(ParseMountOptions, NameAloneSelectsNoControllers) {
  const MountOptions options = parse_ok("name=systemd");
  EXPECT_EQ(options.name, "systemd");
  EXPECT_EQ(options.subsys_mask, 0u);
  EXPECT_FALSE(options.all);
  EXPECT_FALSE(options.none);
}

TEST(ParseMountOptions, NoneWithName) {
  const MountOptions options = parse_ok("none,name=zz_x");
  EXPECT_TRUE(options.none);
  EXPECT_EQ(options.subsys_mask, 0u);
  EXPECT_EQ(options.name, "zz_x");
}

TEST(ParseMountOptions, NameCharactersAndLength) {
  EXPECT_EQ(parse_ok("none,name=a.b-c_D9").name, "a.b-c_D9");
  EXPECT_EQ(parse_ok("none,name=" + std::string(63, 'a')).name, std::string(63, 'a'));
  // The kernel's isalnum() takes Latin-1 letters: a raw 0xE9 byte is valid...
  EXPECT_EQ(parse_ok("none,name=\xe9t\xe9").name, "\xe9t\xe9");
  // ...but UTF-8 continuation bytes (0x80-0xBF) are not.
  EXPECT_EQ(parse_error("none,name=\xc3\xa9"), "Invalid name");
  EXPECT_EQ(parse_error("name=\xaa"), "Invalid name");
}

TEST(ParseMountOptions, Flags) {
  const MountOptions options = parse_ok("cpuset,noprefix,clone_children,cpuset_v2_mode,xattr,favordynmods");
  EXPECT_EQ(options.subsys_mask, mask_of({"cpuset"}));
  EXPECT_TRUE(options.noprefix);
  EXPECT_TRUE(options.clone_children);
  EXPECT_TRUE(options.cpuset_v2_mode);
  EXPECT_TRUE(options.xattr);
  EXPECT_TRUE(options.favordynmods);

  const MountOptions defaults = parse_ok("cpu");
  EXPECT_FALSE(defaults.noprefix);
  EXPECT_FALSE(defaults.clone_children);
  EXPECT_FALSE(defaults.cpuset_v2_mode);
  EXPECT_FALSE(defaults.xattr);
  EXPECT_FALSE(defaults.favordynmods);
  EXPECT_FALSE(defaults.release_agent.has_value());
}

TEST(ParseMountOptions, LastFavordynmodsWins) {
  EXPECT_FALSE(parse_ok("cpu,favordynmods,nofavordynmods").favordynmods);
  EXPECT_TRUE(parse_ok("cpu,nofavordynmods,favordynmods").favordynmods);
  EXPECT_FALSE(parse_ok("cpu,nofavordynmods").favordynmods);
}

TEST(ParseMountOptions, ReleaseAgent) {
  EXPECT_EQ(parse_ok("none,name=n,release_agent=/x/agent.sh").release_agent, "/x/agent.sh");
  // Everything after the first '=' is the value.
  EXPECT_EQ(parse_ok("cpu,release_agent=/a=b").release_agent, "/a=b");
  // Copied into a PATH_MAX buffer with strscpy when the root is set up.
  const std::string long_agent = "/" + std::string(5000, 'a');
  EXPECT_EQ(parse_ok("cpu,release_agent=" + long_agent).release_agent, long_agent.substr(0, 4095));
}

TEST(ParseMountOptions, NoprefixIsForCpusetAlone) {
  EXPECT_TRUE(parse_ok("cpuset,noprefix").noprefix);
  EXPECT_TRUE(parse_ok("noprefix,cpuset").noprefix);
  // No controllers at all: nothing to prefix, so the kernel lets it through.
  EXPECT_TRUE(parse_ok("noprefix,none,name=x").noprefix);
}

TEST(ParseMountOptions, EmptyElementsAndBareValuesAreSkipped) {
  EXPECT_EQ(parse_ok(",,cpu,,").subsys_mask, mask_of({"cpu"}));
  // The VFS drops elements that start with '='.
  EXPECT_EQ(parse_ok("=foo,cpu,=").subsys_mask, mask_of({"cpu"}));
  EXPECT_TRUE(parse_ok("=cpu").all);
}

// ---- FUSE options ----

TEST(ParseMountOptions, FuseOptionsPassThroughInOrder) {
  const MountOptions options = parse_ok("allow_other,cpu,fsname=cgroup,default_permissions,ro,subtype=cg");
  EXPECT_EQ(options.subsys_mask, mask_of({"cpu"}));
  EXPECT_EQ(options.fuse_options,
            (std::vector<std::string>{"allow_other", "fsname=cgroup", "default_permissions", "ro", "subtype=cg"}));
  // FUSE options alone still mean "all".
  EXPECT_TRUE(parse_ok("allow_other").all);
}

TEST(ParseMountOptions, EveryFuseOptionPassesThrough) {
  for (std::string_view fuse_option :
       {"allow_other", "allow_root", "default_permissions", "auto_unmount", "fsname=x", "subtype=y",
        "max_read=4096", "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "atime",
        "noatime", "sync", "async", "dirsync", "fsname=", "fsname=a=b"}) {
    const MountOptions options = parse_ok(std::string(fuse_option) + ",memory");
    EXPECT_EQ(options.fuse_options, std::vector<std::string>{std::string(fuse_option)});
    EXPECT_EQ(options.subsys_mask, mask_of({"memory"}));
  }
  EXPECT_TRUE(parse_ok("cpu").fuse_options.empty());
}

TEST(ParseMountOptions, ControllerSettingsAreSetAside) {
  const MountOptions options = parse_ok("memory,memory.oom_kill,pids.max_policy=kill");
  EXPECT_EQ(options.controller_options, (std::vector<std::string>{"memory.oom_kill", "pids.max_policy=kill"}));
  EXPECT_EQ(options.subsys_mask, mask_of({"memory"}));
  EXPECT_EQ(parse_error("nosuch.key"), "Unknown subsys name 'nosuch.key'");
}

TEST(ParseMountOptions, RelatimeIsAcceptedAndDropped) {
  const MountOptions options = parse_ok("relatime,memory");
  EXPECT_TRUE(options.fuse_options.empty());
  EXPECT_EQ(options.subsys_mask, mask_of({"memory"}));
}

TEST(ParseMountOptions, FuseOptionsNeedTheirOwnShape) {
  EXPECT_EQ(parse_error("fsname"), "Unknown subsys name 'fsname'");
  EXPECT_EQ(parse_error("allow_other=1"), "Unknown subsys name 'allow_other'");
}

// ---- Errors, in the kernel's words ----

TEST(ParseMountOptionsErrors, UnknownAndDisabledControllers) {
  EXPECT_EQ(parse_error("foo"), "Unknown subsys name 'foo'");
  EXPECT_EQ(parse_error("foo=bar"), "Unknown subsys name 'foo'");
  EXPECT_EQ(parse_error("CPU"), "Unknown subsys name 'CPU'");
  EXPECT_EQ(parse_error("cpu,bogus"), "Unknown subsys name 'bogus'");
  EXPECT_EQ(parse_error("context=system_u:object_r:x"), "Unknown subsys name 'context'");
  for (const Subsystem& subsystem : all_subsystems()) {
    if (subsystem.enabled) continue;
    const std::string name(subsystem.legacy_name);
    EXPECT_EQ(parse_error(name), "Disabled controller '" + name + "'");
    EXPECT_EQ(parse_error("cpu," + name + "=x"), "Disabled controller '" + name + "'");
  }
}

TEST(ParseMountOptionsErrors, FlagWithValue) {
  EXPECT_EQ(parse_error("all=1"), "Unexpected value for 'all'");
  EXPECT_EQ(parse_error("cpu,xattr="), "Unexpected value for 'xattr'");
  EXPECT_EQ(parse_error("none=x,name=n"), "Unexpected value for 'none'");
  EXPECT_EQ(parse_error("cpuset,noprefix=yes"), "Unexpected value for 'noprefix'");
  EXPECT_EQ(parse_error("cpu,clone_children=1"), "Unexpected value for 'clone_children'");
  EXPECT_EQ(parse_error("cpu,cpuset_v2_mode=1"), "Unexpected value for 'cpuset_v2_mode'");
  EXPECT_EQ(parse_error("cpu,favordynmods=0"), "Unexpected value for 'favordynmods'");
  EXPECT_EQ(parse_error("cpu,nofavordynmods=0"), "Unexpected value for 'nofavordynmods'");
}

TEST(ParseMountOptionsErrors, Name) {
  // fs_parse rejects a missing or empty string value before cgroup1_parse_param
  // could say "Empty name".
  EXPECT_EQ(parse_error("none,name="), "Bad value for 'name'");
  EXPECT_EQ(parse_error("none,name"), "Bad value for 'name'");
  EXPECT_EQ(parse_error("none,name=" + std::string(64, 'a')), "Name too long");
  EXPECT_EQ(parse_error("name=a b"), "Invalid name");
  EXPECT_EQ(parse_error("name=a/b"), "Invalid name");
  EXPECT_EQ(parse_error("name=a:b"), "Invalid name");
  EXPECT_EQ(parse_error("name=x,name=y"), "name respecified");
  EXPECT_EQ(parse_error("name=x,name=x"), "name respecified");
  // Length and characters are checked before the repetition.
  EXPECT_EQ(parse_error("name=x,name=a b"), "Invalid name");
  EXPECT_EQ(parse_error("name=x,name=" + std::string(64, 'a')), "Name too long");
}

TEST(ParseMountOptionsErrors, ReleaseAgent) {
  EXPECT_EQ(parse_error("cpu,release_agent="), "Bad value for 'release_agent'");
  EXPECT_EQ(parse_error("cpu,release_agent"), "Bad value for 'release_agent'");
  EXPECT_EQ(parse_error("cpu,release_agent=/a,release_agent=/b"), "release_agent respecified");
  EXPECT_EQ(parse_error("cpu,release_agent=/a,release_agent=/a"), "release_agent respecified");
}

TEST(ParseMountOptionsErrors, Source) {
  // mount(8) always passes the device argument as the source first.
  EXPECT_EQ(parse_error("cpu,source=x"), "Multiple sources");
  EXPECT_EQ(parse_error("cpu,source"), "Non-string source");
}

TEST(ParseMountOptionsErrors, Combinations) {
  EXPECT_EQ(parse_error("all,cpu"), "subsys name conflicts with all");
  EXPECT_EQ(parse_error("cpu,all"), "subsys name conflicts with all");
  EXPECT_EQ(parse_error("all,name=x,memory"), "subsys name conflicts with all");
  EXPECT_EQ(parse_error("none"), "Need name or subsystem set");
  EXPECT_EQ(parse_error("none,xattr,allow_other"), "Need name or subsystem set");
  EXPECT_EQ(parse_error("noprefix"), "noprefix used incorrectly");  // implied all
  EXPECT_EQ(parse_error("noprefix,cpu"), "noprefix used incorrectly");
  EXPECT_EQ(parse_error("cpuset,cpu,noprefix"), "noprefix used incorrectly");
  EXPECT_EQ(parse_error("none,cpu"), "none used incorrectly");
  EXPECT_EQ(parse_error("none,cpu,name=x"), "none used incorrectly");
  EXPECT_EQ(parse_error("all,none"), "none used incorrectly");
  EXPECT_EQ(parse_error("all,none,name=x"), "none used incorrectly");
  // The check order of check_cgroupfs_options.
  EXPECT_EQ(parse_error("all,cpu,none"), "subsys name conflicts with all");
  EXPECT_EQ(parse_error("noprefix,none,cpu"), "noprefix used incorrectly");
}

TEST(ParseMountOptionsErrors, ParseErrorsComeBeforeCombinationErrors) {
  EXPECT_EQ(parse_error("all,cpu,foo"), "Unknown subsys name 'foo'");
  EXPECT_EQ(parse_error("none,foo"), "Unknown subsys name 'foo'");
  EXPECT_EQ(parse_error("foo,bar"), "Unknown subsys name 'foo'");
}

// ---- show_mount_options ----

TEST(ShowMountOptions, ControllersInSubsystemIdOrder) {
  EXPECT_EQ(show_mount_options(parse_ok("cpu"), ""), "rw,cpu");
  EXPECT_EQ(show_mount_options(parse_ok("cpuacct,cpu"), ""), "rw,cpu,cpuacct");
  EXPECT_EQ(show_mount_options(parse_ok("pids,cpuset,memory"), ""), "rw,cpuset,memory,pids");
  EXPECT_EQ(show_mount_options(parse_ok(""), ""), "rw,cpuset,cpu,cpuacct,blkio,memory,devices,freezer,pids");
}

TEST(ShowMountOptions, NamedHierarchies) {
  EXPECT_EQ(show_mount_options(parse_ok("name=systemd"), ""), "rw,name=systemd");
  EXPECT_EQ(show_mount_options(parse_ok("none,name=x"), ""), "rw,name=x");
  EXPECT_EQ(show_mount_options(parse_ok("cpu,name=x"), ""), "rw,cpu,name=x");
}

// Observed in experiment E13 (§13.3).
TEST(ShowMountOptions, ObservedStrings) {
  EXPECT_EQ(show_mount_options(parse_ok("none,name=zz_spec_h7q,xattr,clone_children"), ""),
            "rw,xattr,clone_children,name=zz_spec_h7q");
  EXPECT_EQ(show_mount_options(parse_ok("none,name=zz_n"), "/tmp/zz/agent.sh"),
            "rw,release_agent=/tmp/zz/agent.sh,name=zz_n");
}

TEST(ShowMountOptions, FullOrder) {
  const MountOptions options =
      parse_ok("name=n,clone_children,favordynmods,cpuset_v2_mode,xattr,noprefix,cpuset,"
               "release_agent=/sbin/cpuset_release_agent");
  EXPECT_EQ(show_mount_options(options, *options.release_agent),
            "rw,cpuset,noprefix,xattr,cpuset_v2_mode,favordynmods,"
            "release_agent=/sbin/cpuset_release_agent,clone_children,name=n");
}

TEST(ShowMountOptions, ReleaseAgentComesFromTheArgument) {
  const MountOptions options = parse_ok("cpu,release_agent=/from/mount");
  // The agent was cleared by a write to release_agent: nothing is shown.
  EXPECT_EQ(show_mount_options(options, ""), "rw,cpu");
  // The agent was changed by a write: the new value is shown.
  EXPECT_EQ(show_mount_options(options, "/from/write"), "rw,cpu,release_agent=/from/write");
  EXPECT_EQ(show_mount_options(parse_ok("cpu"), "/set/later"), "rw,cpu,release_agent=/set/later");
}

TEST(ShowMountOptions, ReleaseAgentIsOctalEscaped) {
  // seq_show_option() escapes ", \t\n\\" in values; '=' stays as is.
  EXPECT_EQ(show_mount_options(parse_ok("cpu"), "/a b,c\\d\te\nf=g"),
            "rw,cpu,release_agent=/a\\040b\\054c\\134d\\011e\\012f=g");
}

TEST(ShowMountOptions, MountFlagsAreNotShown) {
  EXPECT_EQ(show_mount_options(parse_ok("allow_other,cpu,fsname=cgroup,nofavordynmods"), ""), "rw,cpu");
}

}  // namespace
}  // namespace cgemu
