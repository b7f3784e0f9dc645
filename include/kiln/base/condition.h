// Condition: one or more comparisons (< <= > >= == !=) joined by `and`, each side arithmetic
// (+ - * /, parentheses, unary minus) over numbers and named values — the language of promotion
// gates and alert rules.
//
//   auto c = Condition::Parse("auc >= champion.auc - 0.001 and logloss < 0.5", "gate");
//   auto r = c->Evaluate([&](std::string_view name) -> std::optional<double> { ... });
//
// Names are [A-Za-z_][A-Za-z0-9_.]* (at most 128 bytes); `and` is reserved. A condition is at
// most 4096 bytes and 32 parentheses deep. Errors name `what` and the position.
// Thread-safety: a parsed Condition is immutable; copies share it.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/status.h"

namespace kiln {

class Condition {
 public:
  static Result<Condition> Parse(std::string_view text, std::string_view what);
  Condition() = default;  // no comparisons

  // The value of a name, or nullopt when there is none.
  using Lookup = std::function<std::optional<double>(std::string_view name)>;

  struct Clause {
    std::string text;  // the comparison as written
    double left = 0, right = 0;
    bool passed = false;
  };
  // Every comparison, evaluated; NotFound naming the first name `lookup` has no value for.
  Result<std::vector<Clause>> Evaluate(const Lookup& lookup) const;
  // Comparison `i` alone.
  Result<Clause> EvaluateClause(size_t i, const Lookup& lookup) const;

  size_t clauses() const;
  // The names comparison `i` uses, in order of appearance (repeats kept once).
  std::vector<std::string> Names(size_t i) const;
  const std::string& Text(size_t i) const;
  // Comparison `i` written out again with every name replaced by `rename(name)`, sums and
  // products parenthesized: for translating a condition into another language.
  std::string Render(size_t i, const std::function<std::string(const std::string&)>& rename) const;

  struct Impl;

 private:
  explicit Condition(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace kiln
