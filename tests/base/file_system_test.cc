#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "kiln/base/file_lock.h"
#include "kiln/base/file_system.h"
#include "kiln/base/mem_file_system.h"

namespace kiln {
namespace {

std::string TempDir() {
  std::string t = (std::filesystem::temp_directory_path() / "kiln-fs-XXXXXX").string();
  return mkdtemp(t.data());
}

void ExerciseBasics(FileSystem& fs, const std::string& root) {
  ASSERT_TRUE(fs.CreateDirs(root + "/a/b").ok());
  ASSERT_TRUE(AtomicWriteFile(fs, root + "/a/b/f", "hello").ok());
  EXPECT_EQ(*fs.ReadFile(root + "/a/b/f", 100), "hello");
  EXPECT_EQ(*fs.FileSize(root + "/a/b/f"), 5u);
  EXPECT_TRUE(*fs.Exists(root + "/a/b/f"));
  EXPECT_FALSE(*fs.Exists(root + "/a/b/g"));
  EXPECT_EQ(fs.ReadFile(root + "/a/b/f", 3).status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(fs.ReadFile(root + "/missing", 3).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(AtomicWriteFile(fs, root + "/a/b/f", "replaced").ok());
  EXPECT_EQ(*fs.ReadFile(root + "/a/b/f", 100), "replaced");
  auto names = fs.ListDir(root + "/a/b");
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"f"});  // no temp files left behind
  auto seq = fs.NewSequentialFile(root + "/a/b/f");
  ASSERT_TRUE(seq.ok());
  char buf[4];
  EXPECT_EQ(*(*seq)->Read(buf, 4), 4u);
  ASSERT_TRUE((*seq)->Seek(6).ok());
  EXPECT_EQ(*(*seq)->Read(buf, 4), 2u);
  EXPECT_EQ(std::string(buf, 2), "ed");
  ASSERT_TRUE(fs.Remove(root + "/a/b/f").ok());
  EXPECT_EQ(fs.Remove(root + "/a/b/f").code(), StatusCode::kNotFound);
}

TEST(FileSystemTest, PosixBasics) {
  auto fs = NewPosixFileSystem();
  std::string root = TempDir();
  ExerciseBasics(*fs, root);
  std::filesystem::remove_all(root);
}

TEST(FileSystemTest, MemBasics) {
  MemFileSystem fs;
  ExerciseBasics(fs, "/mem");
}

TEST(MemFileSystemTest, CrashDropsUnsyncedDataAndNames) {
  MemFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/d").ok());
  ASSERT_TRUE(AtomicWriteFile(fs, "/d/durable", "kept").ok());
  {
    auto f = fs.NewWritableFile("/d/unsynced");
    ASSERT_TRUE((*f)->Append("lost").ok());
  }
  {
    auto f = fs.NewWritableFile("/d/synced-no-dirsync");
    ASSERT_TRUE((*f)->Append("x").ok());
    ASSERT_TRUE((*f)->Sync().ok());
  }
  fs.Crash(CrashMode::kDropUnsynced, 1);
  EXPECT_EQ(*fs.ReadFile("/d/durable", 100), "kept");
  EXPECT_FALSE(*fs.Exists("/d/unsynced"));
  EXPECT_FALSE(*fs.Exists("/d/synced-no-dirsync"));
}

TEST(MemFileSystemTest, CrashCanKeepAPrefixOrGarbleTheUnsyncedTail) {
  for (CrashMode mode : {CrashMode::kKeepRandomPrefix, CrashMode::kGarbleUnsynced}) {
    MemFileSystem fs;
    ASSERT_TRUE(fs.CreateDirs("/d").ok());
    auto f = fs.NewWritableFile("/d/log");
    ASSERT_TRUE((*f)->Append("synced|").ok());
    ASSERT_TRUE((*f)->Sync().ok());
    ASSERT_TRUE(fs.SyncDir("/d").ok());
    ASSERT_TRUE((*f)->Append(std::string(1000, 'u')).ok());
    fs.Crash(mode, 7);
    std::string got = *fs.ReadFile("/d/log", 10000);
    EXPECT_EQ(got.substr(0, 7), "synced|");
    EXPECT_LE(got.size(), 1007u);
  }
}

TEST(FaultInjectingFileSystemTest, FailsTheArmedOperationOnly) {
  MemFileSystem mem;
  FaultInjectingFileSystem fs(&mem);
  ASSERT_TRUE(fs.CreateDirs("/d").ok());
  // AtomicWriteFile does: Append, Sync, Rename, SyncDir = 4 counted operations.
  for (int n = 1; n <= 4; ++n) {
    fs.Arm(FaultInjectingFileSystem::Fault::kEio, n);
    Status s = AtomicWriteFile(fs, "/d/f", "data");
    EXPECT_FALSE(s.ok()) << n;
    EXPECT_TRUE(fs.fired());
  }
  fs.Arm(FaultInjectingFileSystem::Fault::kEio, 100);
  EXPECT_TRUE(AtomicWriteFile(fs, "/d/f", "data").ok());
  EXPECT_FALSE(fs.fired());
  EXPECT_EQ(*fs.ListDir("/d"), std::vector<std::string>{"f"});  // failed attempts cleaned up
}

TEST(FaultInjectingFileSystemTest, EnospcShortWriteAndPowerLoss) {
  MemFileSystem mem;
  FaultInjectingFileSystem fs(&mem);
  ASSERT_TRUE(fs.CreateDirs("/d").ok());
  fs.Arm(FaultInjectingFileSystem::Fault::kEnospc, 1);
  EXPECT_EQ(AtomicWriteFile(fs, "/d/f", "data").code(), StatusCode::kResourceExhausted);
  fs.Arm(FaultInjectingFileSystem::Fault::kShortWrite, 1);
  EXPECT_EQ(AtomicWriteFile(fs, "/d/f", "data").code(), StatusCode::kResourceExhausted);
  fs.Arm(FaultInjectingFileSystem::Fault::kPowerLoss, 2);
  EXPECT_FALSE(AtomicWriteFile(fs, "/d/f", "data").ok());
  // After a power loss every later operation fails too.
  EXPECT_FALSE(fs.NewWritableFile("/d/g").ok());
  mem.Crash(CrashMode::kDropUnsynced, 3);
  EXPECT_FALSE(*mem.Exists("/d/f"));
}

// flock conflicts between open file descriptions, so two opens in one process behave like two
// processes: TryAcquire gives null while the other holds a conflicting lock.
TEST(FileLockTest, TryAcquireSeesHolders) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("kiln-lock-" + std::to_string(getpid()))).string();
  {
    auto held = FileLock::Acquire(path, LockMode::kExclusive);
    ASSERT_TRUE(held.ok());
    auto again = FileLock::TryAcquire(path, LockMode::kShared);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, nullptr);
  }
  auto shared = FileLock::TryAcquire(path, LockMode::kShared);
  ASSERT_TRUE(shared.ok());
  ASSERT_NE(*shared, nullptr);
  auto shared2 = FileLock::TryAcquire(path, LockMode::kShared);
  ASSERT_TRUE(shared2.ok());
  EXPECT_NE(*shared2, nullptr);
  auto exclusive = FileLock::TryAcquire(path, LockMode::kExclusive);
  ASSERT_TRUE(exclusive.ok());
  EXPECT_EQ(*exclusive, nullptr);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace kiln
