#include "kiln/registry/gate.h"

#include <cmath>
#include <cstdlib>
#include <memory>

#include <fmt/format.h>

namespace kiln::registry {

namespace {

constexpr size_t kMaxGateBytes = 4096;
constexpr int kMaxDepth = 32;

struct Expr {
  enum Kind { kNumber, kMetric, kNeg, kAdd, kSub, kMul, kDiv } kind = kNumber;
  double number = 0;
  bool champion = false;  // kMetric: whose
  std::string metric;
  std::unique_ptr<Expr> a, b;
};

struct Comparison {
  std::string text;
  std::string op;
  std::unique_ptr<Expr> left, right;
};

bool MentionsChampion(const Expr& e) {
  if (e.kind == Expr::kMetric) return e.champion;
  return (e.a && MentionsChampion(*e.a)) || (e.b && MentionsChampion(*e.b));
}

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Result<std::vector<Comparison>> Gate() {
    if (s_.size() > kMaxGateBytes) return InvalidArgumentError("gate: longer than 4096 bytes");
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
      if (Word() != "and") return Error("expected 'and' or the end of the gate");
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
  Status Error(std::string_view what) const {
    return InvalidArgumentError(fmt::format("gate: {} at position {}", what, i_ + 1));
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
    if (depth > kMaxDepth) return Error("gate nested too deeply");
    Skip();
    if (i_ >= s_.size()) return Error("unexpected end of the gate");
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
      i_ += static_cast<size_t>(end - text.c_str());
      auto e = std::make_unique<Expr>();
      e->number = v;
      return e;
    }
    const std::string_view word = Word();
    if (word.empty()) return Error("expected a number, a metric or '('");
    if (word == "and") return Error("expected a number, a metric or '('");
    auto e = std::make_unique<Expr>();
    e->kind = Expr::kMetric;
    std::string_view metric = word;
    if (word.starts_with("champion.")) {
      e->champion = true;
      metric.remove_prefix(9);
    } else if (word.starts_with("challenger.")) {
      metric.remove_prefix(11);
    }
    if (metric.empty() || metric.size() > 128) return Error("bad metric name");
    e->metric = std::string(metric);
    i_ += word.size();
    return e;
  }

  std::string_view s_;
  size_t i_ = 0;
};

Result<double> Eval(const Expr& e, const MetricMap& challenger, const MetricMap* champion) {
  switch (e.kind) {
    case Expr::kNumber:
      return e.number;
    case Expr::kMetric: {
      const MetricMap& m = e.champion ? *champion : challenger;
      auto it = m.find(e.metric);
      if (it == m.end()) {
        std::string known;
        for (const auto& [k, v] : m) known += (known.empty() ? "" : ", ") + k;
        return InvalidArgumentError(fmt::format("gate: the {} has no metric '{}' (it has: {})",
                                                e.champion ? "champion" : "challenger", e.metric,
                                                known));
      }
      return it->second;
    }
    case Expr::kNeg: {
      KILN_ASSIGN_OR_RETURN(double a, Eval(*e.a, challenger, champion));
      return -a;
    }
    default:
      break;
  }
  KILN_ASSIGN_OR_RETURN(double a, Eval(*e.a, challenger, champion));
  KILN_ASSIGN_OR_RETURN(double b, Eval(*e.b, challenger, champion));
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

}  // namespace

Status ValidateGate(std::string_view gate) { return Parser(gate).Gate().status(); }

Result<GateResult> EvaluateGate(std::string_view gate, const MetricMap& challenger,
                                const std::optional<MetricMap>& champion) {
  KILN_ASSIGN_OR_RETURN(std::vector<Comparison> comparisons, Parser(gate).Gate());
  GateResult out;
  out.passed = true;
  for (const auto& c : comparisons) {
    GateClause clause;
    clause.text = c.text;
    if (!champion && (MentionsChampion(*c.left) || MentionsChampion(*c.right))) {
      clause.skipped = true;
      clause.passed = true;
    } else {
      const MetricMap* champ = champion ? &*champion : nullptr;
      KILN_ASSIGN_OR_RETURN(clause.left, Eval(*c.left, challenger, champ));
      KILN_ASSIGN_OR_RETURN(clause.right, Eval(*c.right, challenger, champ));
      clause.passed = Compare(clause.left, c.op, clause.right);
    }
    out.passed = out.passed && clause.passed;
    out.clauses.push_back(std::move(clause));
  }
  return out;
}

}  // namespace kiln::registry
