// Test helper: a real redis-server of the tests' own on a free loopback port, with its data
// (an append-only file, fsync on every write) in a temp dir; stopped and removed at the end.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "testing/run_kiln.h"

namespace kiln::testing {

class RedisServer {
 public:
  RedisServer() : dir_(MakeTempDir("kiln-redis")), port_(FreePort()) { Start(); }
  ~RedisServer() {
    Stop();
    std::filesystem::remove_all(dir_);
  }

  bool ok() const { return pid_ > 0; }
  std::string Url(int db = 0) const { return fmt::format("redis://127.0.0.1:{}/{}", port_, db); }
  // Empties every database.
  void Flush() const { Cli("FLUSHALL"); }
  // Stops the server (SIGTERM, as an operator would) and starts it again on the same data.
  bool Restart() {
    Stop();
    return Start();
  }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }

 private:
  bool Start() {
    pid_ = fork();
    if (pid_ == 0) {
      freopen("/dev/null", "w", stdout);
      const std::string port = std::to_string(port_);
      execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--dir",
             dir_.c_str(), "--appendonly", "yes", "--appendfsync", "always", "--save", "",
             "--daemonize", "no", static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      if (Cli("PING") == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    Stop();
    return false;
  }
  int Cli(const std::string& command) const {
    return std::system(fmt::format("redis-cli -p {} {} > /dev/null 2>&1", port_, command).c_str());
  }

  std::string dir_;
  int port_;
  pid_t pid_ = 0;
};

}  // namespace kiln::testing
