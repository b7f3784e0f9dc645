#include "registry/run_filter.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "kiln/base/utf8.h"

namespace kiln::registry {

namespace {

constexpr size_t kMaxFilterBytes = 8192;
constexpr int kMaxDepth = 64;
constexpr size_t kMaxTerms = 256;

enum class Tok { kEnd, kIdent, kString, kNumber, kOp, kLParen, kRParen, kComma };

struct Token {
  Tok type = Tok::kEnd;
  std::string text;  // identifier (lower-cased keyword check done by caller), string, operator
  double number = 0;
  size_t pos = 0;
};

bool IdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

// Splits the filter into tokens; a term like metrics.`valid auc` is one identifier.
Result<std::vector<Token>> Tokenize(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  auto err = [&](size_t pos, std::string_view what) {
    return InvalidArgumentError(fmt::format("filter: {} at position {}", what, pos + 1));
  };
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    Token t;
    t.pos = i;
    if (c == '(' || c == ')' || c == ',') {
      t.type = c == '(' ? Tok::kLParen : (c == ')' ? Tok::kRParen : Tok::kComma);
      ++i;
    } else if (c == '\'' || c == '"') {
      t.type = Tok::kString;
      ++i;
      while (true) {
        if (i >= s.size()) return err(t.pos, "unterminated string");
        if (s[i] == c) {
          if (i + 1 < s.size() && s[i + 1] == c) {
            t.text += c;
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        t.text += s[i++];
      }
    } else if (c == '=' || c == '!' || c == '<' || c == '>') {
      t.type = Tok::kOp;
      t.text = c;
      ++i;
      if (i < s.size() && s[i] == '=') t.text += s[i++];
      if (t.text == "!") return err(t.pos, "'!' must be '!='");
      if (t.text == "==") t.text = "=";
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               ((c == '-' || c == '+') && i + 1 < s.size() &&
                (std::isdigit(static_cast<unsigned char>(s[i + 1])) || s[i + 1] == '.'))) {
      t.type = Tok::kNumber;
      size_t j = i + 1;
      while (j < s.size() &&
             (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '.' ||
              ((s[j] == '-' || s[j] == '+') && (s[j - 1] == 'e' || s[j - 1] == 'E'))))
        ++j;
      const std::string text(s.substr(c == '+' ? i + 1 : i, j - (c == '+' ? i + 1 : i)));
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), t.number);
      if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(t.number)) {
        return err(t.pos, fmt::format("bad number '{}'", text.substr(0, 32)));
      }
      t.text = std::string(s.substr(i, j - i));
      i = j;
    } else if (IdentChar(c)) {
      t.type = Tok::kIdent;
      while (i < s.size()) {
        if (IdentChar(s[i])) {
          t.text += s[i++];
        } else if (s[i] == '`') {
          const size_t close = s.find('`', i + 1);
          if (close == std::string_view::npos) return err(i, "unterminated `");
          t.text += s.substr(i + 1, close - i - 1);
          i = close + 1;
        } else {
          break;
        }
      }
    } else {
      return err(i, fmt::format("unexpected character '{}'", c));
    }
    out.push_back(std::move(t));
  }
  Token end;
  end.pos = s.size();
  out.push_back(end);
  return out;
}

// `attributes.NAME` -> a fixed column expression of `runs r` and whether it is numeric.
struct Attribute {
  const char* name;
  const char* column;
  bool numeric;
};
constexpr Attribute kAttributeTable[] = {
    {"run_id", "r.id", false},
    {"experiment", "r.experiment", false},
    {"name", "r.name", false},
    {"status", "r.status", false},
    {"start_time", "r.start_ms", true},
    {"end_time", "r.end_ms", true},
    {"duration", "(r.end_ms - r.start_ms)", true},
    {"train_data", "r.train_data", false},
    {"train_hash", "r.train_hash", false},
    {"valid_data", "r.valid_data", false},
    {"valid_hash", "r.valid_hash", false},
    {"artifact", "r.artifact", false},
    {"kiln_version", "r.kiln_version", false},
    {"build_commit", "r.build_commit", false},
    {"host", "r.host", false},
    {"parent_id", "r.parent_id", false},
    {"cpu_seconds", "r.cpu_seconds", true},
    {"peak_rss_bytes", "r.peak_rss_bytes", true},
};

enum class Space { kParams, kMetrics, kTags, kAttributes };

struct Term {
  Space space;
  std::string key;
  const Attribute* attribute = nullptr;
};

class Compiler {
 public:
  Compiler(std::vector<Token> tokens, SqlDialect dialect, int first_param)
      : t_(std::move(tokens)), dialect_(dialect), next_param_(first_param) {}

  Result<SqlFragment> Filter() {
    if (t_.size() == 1) return SqlFragment{"1=1", {}};
    KILN_ASSIGN_OR_RETURN(std::string sql, Or(0));
    if (Peek().type != Tok::kEnd) return Error("expected 'and', 'or' or the end");
    return SqlFragment{std::move(sql), std::move(args_)};
  }

  Result<SqlFragment> Order() {
    std::string sql;
    while (true) {
      if (Peek().type != Tok::kIdent) return Error("expected a term to order by");
      KILN_ASSIGN_OR_RETURN(Term term, ParseTerm(Next()));
      std::string dir = "DESC";
      bool explicit_dir = false;
      if (Peek().type == Tok::kIdent && (IsWord("asc") || IsWord("desc"))) {
        dir = AsciiLower(Next().text) == "asc" ? "ASC" : "DESC";
        explicit_dir = true;
      }
      if (!explicit_dir && term.space == Space::kAttributes) dir = "ASC";
      if (!sql.empty()) sql += ", ";
      sql += OrderExpr(term, dir);
      if (Peek().type == Tok::kComma) {
        Next();
        continue;
      }
      if (Peek().type != Tok::kEnd) return Error("expected ',', 'asc', 'desc' or the end");
      break;
    }
    return SqlFragment{std::move(sql), std::move(args_)};
  }

 private:
  const Token& Peek() const { return t_[i_]; }
  const Token& Next() { return t_[i_ < t_.size() - 1 ? i_++ : i_]; }
  bool IsWord(std::string_view w) const {
    return Peek().type == Tok::kIdent && AsciiLower(Peek().text) == w;
  }
  Status Error(std::string_view what) const {
    return InvalidArgumentError(fmt::format("filter: {} at position {}", what, Peek().pos + 1));
  }

  std::string Param(SqlValue v) {
    const bool number = std::holds_alternative<double>(v);
    args_.push_back(std::move(v));
    const int n = next_param_++;
    if (dialect_ == SqlDialect::kSqlite) return fmt::format("?{}", n);
    return number ? fmt::format("${}::float8", n) : fmt::format("${}::text", n);
  }

  Result<std::string> Or(int depth) {
    if (depth > kMaxDepth) return Error("filter nested too deeply");
    KILN_ASSIGN_OR_RETURN(std::string left, And(depth));
    while (IsWord("or")) {
      Next();
      KILN_ASSIGN_OR_RETURN(std::string right, And(depth));
      left = fmt::format("({} OR {})", left, right);
    }
    return left;
  }

  Result<std::string> And(int depth) {
    KILN_ASSIGN_OR_RETURN(std::string left, Unary(depth));
    while (IsWord("and")) {
      Next();
      KILN_ASSIGN_OR_RETURN(std::string right, Unary(depth));
      left = fmt::format("({} AND {})", left, right);
    }
    return left;
  }

  Result<std::string> Unary(int depth) {
    if (depth > kMaxDepth) return Error("filter nested too deeply");
    if (IsWord("not")) {
      Next();
      KILN_ASSIGN_OR_RETURN(std::string inner, Unary(depth + 1));
      return fmt::format("(NOT {})", inner);
    }
    if (Peek().type == Tok::kLParen) {
      Next();
      KILN_ASSIGN_OR_RETURN(std::string inner, Or(depth + 1));
      if (Peek().type != Tok::kRParen) return Error("expected ')'");
      Next();
      return inner;
    }
    return Comparison();
  }

  Result<Term> ParseTerm(const Token& tok) {
    const size_t dot = tok.text.find('.');
    const std::string prefix = AsciiLower(tok.text.substr(0, dot));
    if (dot == std::string::npos || dot + 1 >= tok.text.size()) {
      return InvalidArgumentError(fmt::format(
          "filter: '{}' at position {} is not params.K, metrics.K, tags.K or attributes.NAME",
          tok.text.substr(0, 64), tok.pos + 1));
    }
    Term term;
    term.key = tok.text.substr(dot + 1);
    if (term.key.size() > 250) {
      return InvalidArgumentError(fmt::format("filter: key too long at position {}", tok.pos + 1));
    }
    if (prefix == "params" || prefix == "param") {
      term.space = Space::kParams;
    } else if (prefix == "metrics" || prefix == "metric") {
      term.space = Space::kMetrics;
    } else if (prefix == "tags" || prefix == "tag") {
      term.space = Space::kTags;
    } else if (prefix == "attributes" || prefix == "attribute" || prefix == "attr") {
      term.space = Space::kAttributes;
      for (const auto& a : kAttributeTable) {
        if (term.key == a.name) term.attribute = &a;
      }
      if (!term.attribute) {
        return InvalidArgumentError(fmt::format("filter: unknown attribute '{}' at position {}",
                                                term.key.substr(0, 64), tok.pos + 1));
      }
    } else {
      return InvalidArgumentError(
          fmt::format("filter: unknown prefix '{}' at position {} (params, metrics, tags or "
                      "attributes)",
                      prefix.substr(0, 32), tok.pos + 1));
    }
    return term;
  }

  Result<SqlValue> Value(const Term& term) {
    const Token& v = Peek();
    if (v.type == Tok::kNumber) {
      Next();
      // Tags and text attributes compare with the number as written.
      if (term.space == Space::kTags || (term.attribute && !term.attribute->numeric)) {
        return SqlValue(v.text);
      }
      return SqlValue(v.number);
    }
    if (v.type == Tok::kString) {
      if (term.space == Space::kMetrics || (term.attribute && term.attribute->numeric)) {
        return Error("this term compares with numbers, not strings");
      }
      Next();
      return SqlValue(t_[i_ - 1].text);
    }
    return Error("expected a number or a quoted string");
  }

  // The fixed subquery selecting runs that have `term.key` in its table, plus a condition on
  // its value column.
  std::string Exists(const Term& term, const std::string& condition) {
    const char* table = term.space == Space::kParams
                            ? "run_params"
                            : (term.space == Space::kMetrics ? "run_metrics" : "run_tags");
    std::string sql = fmt::format("r.seq IN (SELECT run_seq FROM {} WHERE key = {}", table,
                                  Param(SqlValue(term.key)));
    if (!condition.empty()) sql += " AND " + condition;
    return sql + ")";
  }

  // The value column for a comparison with `v`: params have a text and a numeric column.
  std::string Column(const Term& term, const SqlValue& v) const {
    if (term.attribute) return term.attribute->column;
    if (term.space == Space::kParams) return std::holds_alternative<double>(v) ? "num" : "value";
    return "value";
  }

  Result<std::string> Comparison() {
    if (++terms_ > kMaxTerms) return Error("too many terms");
    if (Peek().type != Tok::kIdent) return Error("expected a term such as metrics.auc");
    KILN_ASSIGN_OR_RETURN(Term term, ParseTerm(Next()));
    // is [not] null
    if (IsWord("is")) {
      Next();
      bool negate = false;
      if (IsWord("not")) {
        Next();
        negate = true;
      }
      if (!IsWord("null")) return Error("expected 'null'");
      Next();
      if (term.attribute) {
        return fmt::format("({} IS {}NULL)", term.attribute->column, negate ? "NOT " : "");
      }
      const std::string present = Exists(term, "");
      return negate ? present : fmt::format("(NOT {})", present);
    }
    // [not] in (...)
    bool negate_in = false;
    if (IsWord("not")) {
      Next();
      if (!IsWord("in")) return Error("expected 'in' after 'not'");
      negate_in = true;
    }
    if (IsWord("in")) {
      Next();
      if (Peek().type != Tok::kLParen) return Error("expected '(' after 'in'");
      Next();
      std::vector<SqlValue> values;
      while (true) {
        KILN_ASSIGN_OR_RETURN(SqlValue v, Value(term));
        if (!values.empty() && v.index() != values[0].index()) {
          return Error("'in' mixes numbers and strings");
        }
        values.push_back(std::move(v));
        if (values.size() > kMaxTerms) return Error("too many values");
        if (Peek().type == Tok::kComma) {
          Next();
          continue;
        }
        if (Peek().type != Tok::kRParen) return Error("expected ',' or ')'");
        Next();
        break;
      }
      const std::string column = Column(term, values[0]);
      std::string list;
      for (auto& v : values) list += (list.empty() ? "" : ", ") + Param(std::move(v));
      const std::string cond = fmt::format("{} {}IN ({})", column, negate_in ? "NOT " : "", list);
      return term.attribute ? "(" + cond + ")" : Exists(term, cond);
    }
    std::string op;
    if (Peek().type == Tok::kOp) {
      op = Next().text;
    } else if (IsWord("like")) {
      Next();
      op = "LIKE";
    } else {
      return Error("expected a comparison (=, !=, <, <=, >, >=, in, like, is null)");
    }
    KILN_ASSIGN_OR_RETURN(SqlValue v, Value(term));
    if (op == "LIKE" && !std::holds_alternative<std::string>(v)) {
      return Error("'like' takes a quoted pattern");
    }
    const std::string column = Column(term, v);
    const std::string cond = fmt::format("{} {} {}", column, op == "!=" ? "<>" : op, Param(v));
    return term.attribute ? "(" + cond + ")" : Exists(term, cond);
  }

  std::string OrderExpr(const Term& term, const std::string& dir) {
    if (term.attribute) return fmt::format("{} {} NULLS LAST", term.attribute->column, dir);
    if (term.space == Space::kMetrics) {
      return fmt::format(
          "(SELECT value FROM run_metrics WHERE run_seq = r.seq AND key = {}) {} NULLS LAST",
          Param(SqlValue(term.key)), dir);
    }
    if (term.space == Space::kTags) {
      return fmt::format(
          "(SELECT value FROM run_tags WHERE run_seq = r.seq AND key = {}) {} NULLS LAST",
          Param(SqlValue(term.key)), dir);
    }
    // Params: numerically when numeric, then by text.
    return fmt::format(
        "(SELECT num FROM run_params WHERE run_seq = r.seq AND key = {0}) {1} NULLS LAST, "
        "(SELECT value FROM run_params WHERE run_seq = r.seq AND key = {2}) {1} NULLS LAST",
        Param(SqlValue(term.key)), dir, Param(SqlValue(term.key)));
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  SqlDialect dialect_;
  int next_param_;
  size_t terms_ = 0;
  std::vector<SqlValue> args_;
};

}  // namespace

Result<SqlFragment> CompileRunFilter(std::string_view filter, SqlDialect dialect, int first_param) {
  if (filter.size() > kMaxFilterBytes) {
    return InvalidArgumentError(
        fmt::format("filter: longer than {} bytes ({})", kMaxFilterBytes, filter.size()));
  }
  KILN_ASSIGN_OR_RETURN(auto tokens, Tokenize(filter));
  return Compiler(std::move(tokens), dialect, first_param).Filter();
}

Result<SqlFragment> CompileRunOrder(std::string_view order_by, SqlDialect dialect,
                                    int first_param) {
  if (order_by.size() > kMaxFilterBytes) return InvalidArgumentError("order-by: too long");
  KILN_ASSIGN_OR_RETURN(auto tokens, Tokenize(order_by));
  if (tokens.size() == 1) return SqlFragment{"r.start_ms DESC, r.seq DESC", {}};
  KILN_ASSIGN_OR_RETURN(SqlFragment f, Compiler(std::move(tokens), dialect, first_param).Order());
  f.sql += ", r.seq DESC";
  return f;
}

}  // namespace kiln::registry
