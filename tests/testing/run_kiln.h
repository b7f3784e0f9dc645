// Test helper: runs the built `kiln` binary ($KILN_BIN) and captures exit code and output.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace kiln::testing {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string KilnBin() {
  const char* b = std::getenv("KILN_BIN");
  return b ? b : KILN_TEST_BIN;
}

inline std::string SourceDir() {
  const char* s = std::getenv("KILN_SOURCE_DIR");
  return s ? s : KILN_TEST_SOURCE_DIR;
}

inline std::string MakeTempDir(const std::string& prefix) {
  std::string t = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  return mkdtemp(t.data());
}

inline std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A loopback port nothing listens on now (the kernel's pick for an ephemeral bind).
inline int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

// Starts kiln with `args` in the background, its stdout and stderr appended to `output`
// (default: discarded); returns its pid.
inline pid_t SpawnKiln(const std::vector<std::string>& args,
                       const std::string& output = "/dev/null") {
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    freopen(output.c_str(), "a", stdout);
    freopen(output.c_str(), "a", stderr);
    std::string bin = KilnBin();
    std::vector<std::string> copy = args;
    std::vector<char*> argv{bin.data()};
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

// Runs kiln with `args` (no shell involved); stdout/stderr go to files in `scratch`.
inline RunResult RunKiln(const std::vector<std::string>& args, const std::string& scratch) {
  const std::string out = scratch + "/stdout", err = scratch + "/stderr";
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    freopen(out.c_str(), "w", stdout);
    freopen(err.c_str(), "w", stderr);
    std::vector<char*> argv;
    std::string bin = KilnBin();
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = Slurp(out);
  r.err = Slurp(err);
  return r;
}

}  // namespace kiln::testing
