#include "kiln/base/condition.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace kiln {

namespace {

constexpr size_t kMaxBytes = 4096;
constexpr int kMaxDepth = 32;
constexpr size_t kMaxName = 128;

struct Expr {
  enum Kind { kNumber, kName, kNeg, kAdd, kSub, kMul, kDiv } kind = kNumber;
  double number = 0;
  std::string text;  // kNumber: as written; kName: the name
  std::unique_ptr<Expr> a, b;
};

struct Comparison {
  std::string text;
  std::string op;
  std::unique_ptr<Expr> left, right;
};

class Parser {
 public:
  Parser(std::string_view s, std::string_view what) : s_(s), what_(what) {}

  Result<std::vector<Comparison>> All() {
    if (s_.size() > kMaxBytes) {
      return InvalidArgumentError(fmt::format("{}: longer than {} bytes", what_, kMaxBytes));
    }
    std::vector<Comparison> out;
    while (true) {
      Skip();
      const size_t start = i_;
      Comparison c;
      KILN_ASSIGN_OR_RETURN(c.left, Sum(0));
      Skip();
      static constexpr std::string_view kOps[] = {"<=", ">=", "==", "!=", "<", ">"};
      for (std::string_view op : kOps) {
        if (s_.substr(i_).starts_with(op)) {
          c.op = std::string(op);
          i_ += c.op.size();
          break;
        }
      }
      if (c.op.empty()) return Error("expected a comparison (< <= > >= == !=)");
      KILN_ASSIGN_OR_RETURN(c.right, Sum(0));
      c.text = std::string(Trim(s_.substr(start, i_ - start)));
      out.push_back(std::move(c));
      Skip();
      if (i_ == s_.size()) break;
      if (Word() != "and") return Error(fmt::format("expected 'and' or the end of the {}", what_));
      i_ += 3;
    }
    return out;
  }

 private:
  static std::string_view Trim(std::string_view v) {
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
    return v;
  }
  void Skip() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n')) ++i_;
  }
  static bool IsIdent(char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && ((c >= '0' && c <= '9') || c == '.'));
  }
  std::string_view Word() const {
    size_t j = i_;
    while (j < s_.size() && IsIdent(s_[j], j == i_)) ++j;
    return s_.substr(i_, j - i_);
  }
  Status Error(std::string_view problem) const {
    return InvalidArgumentError(fmt::format("{}: {} at position {}", what_, problem, i_ + 1));
  }

  Result<std::unique_ptr<Expr>> Sum(int depth) {
    KILN_ASSIGN_OR_RETURN(auto left, Product(depth));
    while (true) {
      Skip();
      if (i_ >= s_.size() || (s_[i_] != '+' && s_[i_] != '-')) return left;
      auto e = std::make_unique<Expr>();
      e->kind = s_[i_++] == '+' ? Expr::kAdd : Expr::kSub;
      e->a = std::move(left);
      KILN_ASSIGN_OR_RETURN(e->b, Product(depth));
      left = std::move(e);
    }
  }
  Result<std::unique_ptr<Expr>> Product(int depth) {
    KILN_ASSIGN_OR_RETURN(auto left, Factor(depth));
    while (true) {
      Skip();
      if (i_ >= s_.size() || (s_[i_] != '*' && s_[i_] != '/')) return left;
      auto e = std::make_unique<Expr>();
      e->kind = s_[i_++] == '*' ? Expr::kMul : Expr::kDiv;
      e->a = std::move(left);
      KILN_ASSIGN_OR_RETURN(e->b, Factor(depth));
      left = std::move(e);
    }
  }
  Result<std::unique_ptr<Expr>> Factor(int depth) {
    if (depth > kMaxDepth) return Error(fmt::format("{} nested too deeply", what_));
    Skip();
    if (i_ >= s_.size()) return Error(fmt::format("unexpected end of the {}", what_));
    const char c = s_[i_];
    if (c == '(') {
      ++i_;
      KILN_ASSIGN_OR_RETURN(auto e, Sum(depth + 1));
      Skip();
      if (i_ >= s_.size() || s_[i_] != ')') return Error("expected ')'");
      ++i_;
      return e;
    }
    if (c == '-') {
      ++i_;
      auto e = std::make_unique<Expr>();
      e->kind = Expr::kNeg;
      KILN_ASSIGN_OR_RETURN(e->a, Factor(depth + 1));
      return e;
    }
    if ((c >= '0' && c <= '9') || c == '.') {
      const std::string text(s_.substr(i_, std::min<size_t>(64, s_.size() - i_)));
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (end == text.c_str() || !std::isfinite(v)) return Error("bad number");
      auto e = std::make_unique<Expr>();
      e->number = v;
      e->text = text.substr(0, static_cast<size_t>(end - text.c_str()));
      i_ += e->text.size();
      return e;
    }
    const std::string_view word = Word();
    if (word.empty() || word == "and") return Error("expected a number, a name or '('");
    if (word.size() > kMaxName) return Error("name too long");
    auto e = std::make_unique<Expr>();
    e->kind = Expr::kName;
    e->text = std::string(word);
    i_ += word.size();
    return e;
  }

  std::string_view s_;
  std::string_view what_;
  size_t i_ = 0;
};

Result<double> Eval(const Expr& e, const Condition::Lookup& lookup) {
  switch (e.kind) {
    case Expr::kNumber:
      return e.number;
    case Expr::kName: {
      const std::optional<double> v = lookup(e.text);
      if (!v) return NotFoundError(fmt::format("no value for '{}'", e.text));
      return *v;
    }
    case Expr::kNeg: {
      KILN_ASSIGN_OR_RETURN(double a, Eval(*e.a, lookup));
      return -a;
    }
    default:
      break;
  }
  KILN_ASSIGN_OR_RETURN(double a, Eval(*e.a, lookup));
  KILN_ASSIGN_OR_RETURN(double b, Eval(*e.b, lookup));
  switch (e.kind) {
    case Expr::kAdd:
      return a + b;
    case Expr::kSub:
      return a - b;
    case Expr::kMul:
      return a * b;
    default:
      return a / b;  // x/0 is inf or nan, and nan fails every comparison
  }
}

bool Compare(double l, const std::string& op, double r) {
  if (op == "<") return l < r;
  if (op == "<=") return l <= r;
  if (op == ">") return l > r;
  if (op == ">=") return l >= r;
  if (op == "==") return l == r;
  return l != r;
}

void CollectNames(const Expr& e, std::vector<std::string>* out) {
  if (e.kind == Expr::kName) {
    if (std::find(out->begin(), out->end(), e.text) == out->end()) out->push_back(e.text);
    return;
  }
  if (e.a) CollectNames(*e.a, out);
  if (e.b) CollectNames(*e.b, out);
}

std::string RenderExpr(const Expr& e, const std::function<std::string(const std::string&)>& f) {
  switch (e.kind) {
    case Expr::kNumber:
      return e.text;
    case Expr::kName:
      return f(e.text);
    case Expr::kNeg:
      return "-(" + RenderExpr(*e.a, f) + ")";
    default:
      break;
  }
  const char* op = e.kind == Expr::kAdd   ? " + "
                   : e.kind == Expr::kSub ? " - "
                   : e.kind == Expr::kMul ? " * "
                                          : " / ";
  return "(" + RenderExpr(*e.a, f) + op + RenderExpr(*e.b, f) + ")";
}

}  // namespace

struct Condition::Impl {
  std::vector<Comparison> comparisons;
};

Result<Condition> Condition::Parse(std::string_view text, std::string_view what) {
  KILN_ASSIGN_OR_RETURN(std::vector<Comparison> all, Parser(text, what).All());
  auto impl = std::make_shared<Impl>();
  impl->comparisons = std::move(all);
  return Condition(std::move(impl));
}

Result<Condition::Clause> Condition::EvaluateClause(size_t i, const Lookup& lookup) const {
  const Comparison& c = impl_->comparisons[i];
  Clause clause;
  clause.text = c.text;
  KILN_ASSIGN_OR_RETURN(clause.left, Eval(*c.left, lookup));
  KILN_ASSIGN_OR_RETURN(clause.right, Eval(*c.right, lookup));
  clause.passed = Compare(clause.left, c.op, clause.right);
  return clause;
}

Result<std::vector<Condition::Clause>> Condition::Evaluate(const Lookup& lookup) const {
  std::vector<Clause> out;
  for (size_t i = 0; i < clauses(); ++i) {
    KILN_ASSIGN_OR_RETURN(Clause clause, EvaluateClause(i, lookup));
    out.push_back(std::move(clause));
  }
  return out;
}

size_t Condition::clauses() const { return impl_ ? impl_->comparisons.size() : 0; }

std::vector<std::string> Condition::Names(size_t i) const {
  std::vector<std::string> out;
  CollectNames(*impl_->comparisons[i].left, &out);
  CollectNames(*impl_->comparisons[i].right, &out);
  return out;
}

const std::string& Condition::Text(size_t i) const { return impl_->comparisons[i].text; }

std::string Condition::Render(size_t i,
                              const std::function<std::string(const std::string&)>& rename) const {
  const Comparison& c = impl_->comparisons[i];
  return RenderExpr(*c.left, rename) + " " + c.op + " " + RenderExpr(*c.right, rename);
}

}  // namespace kiln
