// Test helper: a real PostgreSQL server of the tests' own — `initdb` in a temp dir, `pg_ctl`
// on a free loopback port, stopped and removed at the end. PostgreSQL refuses to run as root,
// so as root the server runs as the `postgres` user (runuser) in a dir that user owns.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "testing/run_kiln.h"

namespace kiln::testing {

class PostgresServer {
 public:
  // Starts the server; `error()` says why when `ok()` is false.
  PostgresServer() {
    bin_ = FindBinDir();
    if (bin_.empty()) {
      error_ = "PostgreSQL server binaries not found (scripts/install-deps installs postgresql)";
      return;
    }
    dir_ = MakeTempDir("kiln-pg");
    as_ = geteuid() == 0 ? "runuser -u postgres -- " : "";
    if (geteuid() == 0) std::filesystem::permissions(dir_, std::filesystem::perms::all);
    if (geteuid() == 0 && std::system(fmt::format("chown postgres: {}", dir_).c_str()) != 0) {
      error_ = "chown to postgres failed";
      return;
    }
    port_ = kiln::testing::FreePort();
    const std::string data = dir_ + "/data";
    if (Sh(fmt::format("{}{}/initdb -D {} -A trust -U kiln -E UTF8 --no-sync > {}/initdb.log 2>&1",
                       as_, bin_, data, dir_)) != 0) {
      error_ = "initdb failed: " + Slurp(dir_ + "/initdb.log");
      return;
    }
    if (Sh(fmt::format("{}{}/pg_ctl -D {} -w -t 60 -l {}/server.log -o \"-p {} -k {} -c "
                       "listen_addresses=127.0.0.1 -c fsync=off\" start > /dev/null 2>&1",
                       as_, bin_, data, dir_, port_, dir_)) != 0) {
      error_ = "pg_ctl start failed: " + Slurp(dir_ + "/server.log");
      return;
    }
    started_ = true;
  }
  ~PostgresServer() {
    if (started_) {
      Sh(fmt::format("{}{}/pg_ctl -D {}/data -m immediate -w stop > /dev/null 2>&1", as_, bin_,
                     dir_));
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  bool ok() const { return started_; }
  const std::string& error() const { return error_; }
  int port() const { return port_; }
  // The connection URL of database `db` (created with CreateDatabase, or "postgres").
  std::string Url(const std::string& db) const {
    return fmt::format("postgresql://kiln@127.0.0.1:{}/{}", port_, db);
  }
  // Creates database `db` (a plain identifier); true on success.
  bool CreateDatabase(const std::string& db) const {
    return Sh(fmt::format("{}{}/psql -q -h 127.0.0.1 -p {} -U kiln -d postgres -c 'CREATE "
                          "DATABASE {}' > /dev/null 2>&1",
                          as_, bin_, port_, db)) == 0;
  }

 private:
  static int Sh(const std::string& cmd) { return std::system(cmd.c_str()); }
  static std::string FindBinDir() {
    for (const char* v : {"17", "16", "15", "14", "13"}) {
      const std::string dir = fmt::format("/usr/lib/postgresql/{}/bin", v);
      if (std::filesystem::exists(dir + "/pg_ctl")) return dir;
    }
    return "";
  }

  std::string bin_, dir_, as_, error_;
  int port_ = 0;
  bool started_ = false;
};

}  // namespace kiln::testing
