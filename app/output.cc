// What every verb shares: printing, opening the home, the execution context.
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "app/cli.h"
#include "kiln/data/column.h"

namespace kiln::app {

void Print(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  if (text.empty() || text.back() != '\n') std::fputc('\n', stdout);
}

void PrintJson(std::string_view json) {
  // Compact JSON from kiln's own builders: only the characters outside strings matter.
  std::string out;
  out.reserve(json.size() * 2);
  int depth = 0;
  bool in_string = false;
  auto newline = [&] {
    out += '\n';
    out.append(static_cast<size_t>(2 * depth), ' ');
  };
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    out += c;
    if (in_string) {
      if (c == '\\' && i + 1 < json.size()) {
        out += json[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      if (i + 1 < json.size() && json[i + 1] == close) {
        out += json[++i];  // {} and [] stay on one line
        continue;
      }
      ++depth;
      newline();
    } else if (c == '}' || c == ']') {
      out.pop_back();
      --depth;
      newline();
      out += c;
    } else if (c == ',') {
      newline();
    } else if (c == ':') {
      out += ' ';
    }
  }
  Print(out);
}

std::string TimeText(int64_t ms) { return ms == 0 ? "-" : data::FormatMillis(ms); }

std::string WithFields(std::string object_json, std::string_view fields) {
  if (fields.empty() || object_json.size() < 2 || object_json.back() != '}') return object_json;
  object_json.pop_back();
  if (object_json.back() != '{') object_json += ',';
  object_json.append(fields);
  object_json += '}';
  return object_json;
}

sigset_t BlockStopSignals() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  return stop;
}

Result<std::unique_ptr<pipeline::Home>> OpenHome(const GlobalOptions& g) {
  const std::string path = pipeline::Home::Resolve(g.home);
  std::error_code ec;
  if (!g.create && !std::filesystem::exists(path, ec)) {
    return NotFoundError(fmt::format(
        "kiln home '{}' does not exist: run `kiln --home {} init` (or pass --create) to make one",
        path, path));
  }
  return pipeline::Home::Open(path);
}

void AddInitCommand(CLI::App& app, const GlobalOptions& g, Runner* run) {
  CLI::App* init =
      app.add_subcommand("init", "make a kiln home (--home, $KILN_HOME or ./kiln-home)");
  init->callback([&g, run] {
    *run = [&g]() -> Result<ExitCode> {
      const std::string path = pipeline::Home::Resolve(g.home);
      std::error_code ec;
      const bool existed = std::filesystem::exists(path, ec);
      KILN_ASSIGN_OR_RETURN(auto home, pipeline::Home::Open(path));
      Print(fmt::format("{} kiln home {}", existed ? "opened the existing" : "made the", path));
      return 0;
    };
  });
}

ExecContext Context(const GlobalOptions& g, int threads) {
  return ExecContext(
      ExecContext::Options{.threads = threads > 0 ? threads : g.threads, .pool = g.pool});
}

}  // namespace kiln::app
