/* The lexers of lexer.h, one per family.  They know only what tells a comment from a string:
 * delimiters, escapes, raw and multi-line forms, heredocs, template holes (whose code may hold
 * comments of its own), and where a '/' starts a regular expression rather than a division.
 * Offsets are absolute in the whole text, so that a family can hand a part of its file to
 * another (HTML's <script> to JavaScript, a Makefile's recipes to the shell).  Recursion (template
 * holes, embedded scripts) is bounded: past MAX_DEPTH the rest is taken as a string.  */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "plan/lexer.h"

#define MAX_DEPTH 32

struct lx
{
  const char *s;
  size_t n; /* the end of what this lexer may look at */
  tars_span_fn fn;
  void *arg;
  int depth;
};

static void
emit(struct lx *l, enum tars_span_kind k, size_t a, size_t b)
{
  if (b > l->n)
    b = l->n;
  if (a <= b)
    l->fn(l->arg, k, a, b);
}

static bool
at(const struct lx *l, size_t i, const char *lit)
{
  size_t k = strlen(lit);
  return i + k <= l->n && memcmp(l->s + i, lit, k) == 0;
}

static char
ch(const struct lx *l, size_t i)
{
  return i < l->n ? l->s[i] : '\0';
}

static bool
is_ident(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         (unsigned char)c >= 0x80;
}

static bool
is_space(char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static size_t
line_end(const struct lx *l, size_t i)
{
  const char *nl = i < l->n ? memchr(l->s + i, '\n', l->n - i) : NULL;
  return nl ? (size_t)(nl - l->s) : l->n;
}

/* Past a QUOTE-delimited literal whose opening quote is at I-1: backslash escapes when ESC, the
 * quote doubled as an escape when DOUBLED; a newline ends an unterminated one unless MULTI.  */
static size_t
quoted(const struct lx *l, size_t i, char quote, bool esc, bool doubled, bool multi)
{
  while (i < l->n)
    {
      char c = l->s[i];
      if (esc && c == '\\')
        {
          i += 2;
          continue;
        }
      if (c == quote)
        {
          if (doubled && ch(l, i + 1) == quote)
            {
              i += 2;
              continue;
            }
          return i + 1;
        }
      if (c == '\n' && !multi)
        return i;
      i++;
    }
  return l->n;
}

/* Past the first occurrence of LIT at or after I (escapes skipped when ESC), or the end.  */
static size_t
until(const struct lx *l, size_t i, const char *lit, bool esc)
{
  size_t k = strlen(lit);
  while (i < l->n)
    {
      if (esc && l->s[i] == '\\')
        {
          i += 2;
          continue;
        }
      if (at(l, i, lit))
        return i + k;
      i++;
    }
  return l->n;
}

/* Where a '/' (or Ruby's and Perl's quote-like '%', '?') starts a literal rather than an
 * operand's operator: after an operator, an opening bracket, a separator, a keyword, or
 * nothing.  PREV is the last character of code before it, WORD the identifier ending there.  */
static bool
operand_expected(char prev, const char *word, size_t word_len)
{
  static const char *const keywords[] = {
      "return", "typeof", "instanceof", "in",      "of",    "new",   "delete", "void",
      "throw",  "case",   "do",         "else",    "yield", "await", "and",    "or",
      "not",    "if",     "unless",     "while",   "until", "when",  "split",  "grep",
      "map",    "join",   "push",       "unshift", "elsif", "then",  NULL};
  if (word_len > 0)
    {
      for (const char *const *k = keywords; *k; k++)
        if (strlen(*k) == word_len && memcmp(*k, word, word_len) == 0)
          return true;
      return false;
    }
  return prev == '\0' || strchr("(,=:[!&|?{};+-*%<>~^", prev) != NULL;
}

/* ----- the C family: C, C++, Objective-C, Java, Kotlin, Scala, Swift, Go, Rust, JS/TS, C#,
 * CSS ----- */

enum
{
  SQ_NONE,   /* ' is nothing special */
  SQ_STRING, /* '...' strings (JS, CSS) */
  SQ_CHAR,   /* '.' char literals (C, Java, Go, C#...) */
  SQ_RUST,   /* char literals or lifetimes ('a) */
};
enum
{
  BT_NONE,
  BT_RAW,      /* Go: `...` without escapes */
  BT_TEMPLATE, /* JS: `...${code}...` */
};
enum
{
  TRIPLE_NONE,
  TRIPLE_ESC, /* Java text blocks, Swift: escapes */
  TRIPLE_RAW, /* Kotlin, Scala: none */
};

struct cl_opts
{
  bool line;         /* // comments */
  bool nested;       /* block comments nest */
  bool continuation; /* a backslash-newline continues a // comment (C, C++) */
  int sq, bt, triple;
  bool dollar_holes; /* Kotlin: ${code} in "..." and """...""" */
  bool paren_holes;  /* Swift: \(code) in strings */
  bool cpp_raw;      /* R"delim(...)delim" */
  bool rust_raw;     /* r#"..."#, b"..", br"..", b'.' */
  bool csharp;       /* @"..." verbatim, """raw""", $"..." */
  bool swift_raw;    /* #"..."# */
  bool regex;        /* JS/TS regular expression literals */
};

static const struct cl_opts opts_c = {.line = true, .continuation = true, .sq = SQ_CHAR};
static const struct cl_opts opts_cpp = {
    .line = true, .continuation = true, .sq = SQ_CHAR, .cpp_raw = true};
static const struct cl_opts opts_java = {.line = true, .sq = SQ_CHAR, .triple = TRIPLE_ESC};
static const struct cl_opts opts_kotlin = {
    .line = true, .nested = true, .sq = SQ_CHAR, .triple = TRIPLE_RAW, .dollar_holes = true};
static const struct cl_opts opts_scala = {
    .line = true, .nested = true, .sq = SQ_CHAR, .triple = TRIPLE_RAW};
static const struct cl_opts opts_swift = {.line = true,
                                          .nested = true,
                                          .sq = SQ_NONE,
                                          .triple = TRIPLE_ESC,
                                          .paren_holes = true,
                                          .swift_raw = true};
static const struct cl_opts opts_go = {.line = true, .sq = SQ_CHAR, .bt = BT_RAW};
static const struct cl_opts opts_rust = {
    .line = true, .nested = true, .sq = SQ_RUST, .rust_raw = true};
static const struct cl_opts opts_js = {
    .line = true, .sq = SQ_STRING, .bt = BT_TEMPLATE, .regex = true};
static const struct cl_opts opts_csharp = {.line = true, .sq = SQ_CHAR, .csharp = true};
static const struct cl_opts opts_css = {.line = false, .sq = SQ_STRING};

static size_t cl_code(struct lx *l, const struct cl_opts *o, size_t i, char stop);

/* A string with holes of code: from I (past the opening delimiter) to CLOSE; HOLE is "${" or
 * "\\(" (or NULL), whose code ends at the matching '}' or ')'.  Each stretch of text between
 * holes is a string span starting at START.  */
static size_t
holed(struct lx *l, const struct cl_opts *o, size_t start, size_t i, const char *close, bool esc,
      const char *hole)
{
  size_t seg = start;
  while (i < l->n)
    {
      if (hole && at(l, i, hole) && l->depth < MAX_DEPTH)
        {
          emit(l, TARS_SPAN_STRING, seg, i);
          l->depth++;
          i = cl_code(l, o, i + strlen(hole), hole[0] == '$' ? '}' : ')');
          l->depth--;
          seg = i;
          continue;
        }
      if (esc && l->s[i] == '\\')
        {
          i += 2;
          continue;
        }
      if (at(l, i, close))
        {
          i += strlen(close);
          emit(l, TARS_SPAN_STRING, seg, i);
          return i;
        }
      i++;
    }
  emit(l, TARS_SPAN_STRING, seg, l->n);
  return l->n;
}

/* A JS regular expression from I (past its '/'), to its closing '/' and flags; a newline ends a
 * malformed one.  */
static size_t
regex_literal(const struct lx *l, size_t i)
{
  bool in_class = false;
  while (i < l->n && l->s[i] != '\n')
    {
      char c = l->s[i];
      if (c == '\\')
        {
          i += 2;
          continue;
        }
      if (c == '[')
        in_class = true;
      else if (c == ']')
        in_class = false;
      else if (c == '/' && !in_class)
        {
          i++;
          while (i < l->n && is_ident(l->s[i]))
            i++;
          return i;
        }
      i++;
    }
  return i;
}

/* Past the block comment opened at OPEN; nested ones count when NESTED.  */
static size_t
block_comment(struct lx *l, size_t open, bool nested)
{
  size_t i = open + 2, level = 1;
  while (i < l->n)
    {
      if (nested && at(l, i, "/*"))
        {
          level++;
          i += 2;
        }
      else if (at(l, i, "*/"))
        {
          if (--level == 0)
            {
              emit(l, TARS_SPAN_COMMENT, open + 2, i);
              return i + 2;
            }
          i += 2;
        }
      else
        i++;
    }
  emit(l, TARS_SPAN_COMMENT, open + 2, l->n);
  return l->n;
}

/* The string literal forms of O that start at I, or 0 when none does.  PREV_IDENT: the
 * character before I is part of an identifier (so "R" in "fooR" is no prefix).  */
static size_t
cl_string(struct lx *l, const struct cl_opts *o, size_t i, const char *word, size_t word_len)
{
  bool prev_ident = word_len > 0;
  char c = l->s[i];
  if (o->cpp_raw && !prev_ident)
    {
      size_t k = i;
      if (at(l, k, "u8"))
        k += 2;
      else if (c == 'u' || c == 'U' || c == 'L')
        k++;
      if (ch(l, k) == 'R' && ch(l, k + 1) == '"')
        {
          /* R"delim( ... )delim" */
          size_t d = k + 2;
          char delim[20] = ")";
          size_t dn = 1;
          while (d < l->n && l->s[d] != '(' && dn < 17 && !is_space(l->s[d]) && l->s[d] != '\\' &&
                 l->s[d] != ')')
            delim[dn++] = l->s[d++];
          if (ch(l, d) == '(')
            {
              delim[dn++] = '"';
              delim[dn] = '\0';
              size_t end = until(l, d + 1, delim, false);
              emit(l, TARS_SPAN_STRING, i, end);
              return end;
            }
        }
    }
  if (o->rust_raw && !prev_ident)
    {
      size_t k = i;
      if (c == 'b' || c == 'c')
        k++;
      if (ch(l, k) == 'r' && (ch(l, k + 1) == '"' || ch(l, k + 1) == '#'))
        {
          size_t h = k + 1, hashes = 0;
          while (ch(l, h) == '#')
            h++, hashes++;
          if (ch(l, h) == '"')
            {
              char close[260] = "\"";
              size_t cn = 1;
              for (size_t j = 0; j < hashes && cn < sizeof close - 1; j++)
                close[cn++] = '#';
              close[cn] = '\0';
              size_t end = until(l, h + 1, close, false);
              emit(l, TARS_SPAN_STRING, i, end);
              return end;
            }
        }
      if ((c == 'b' || c == 'c') && ch(l, i + 1) == '"')
        {
          size_t end = quoted(l, i + 2, '"', true, false, true);
          emit(l, TARS_SPAN_STRING, i, end);
          return end;
        }
      if (c == 'b' && ch(l, i + 1) == '\'')
        {
          size_t end = quoted(l, i + 2, '\'', true, false, false);
          emit(l, TARS_SPAN_STRING, i, end);
          return end;
        }
    }
  if (o->csharp && !prev_ident && (c == '@' || c == '$'))
    {
      size_t k = i;
      bool verbatim = false;
      while (k < l->n && (l->s[k] == '@' || l->s[k] == '$') && k < i + 4)
        verbatim |= l->s[k++] == '@';
      if (ch(l, k) == '"' && !at(l, k, "\"\"\""))
        {
          size_t end = verbatim ? quoted(l, k + 1, '"', false, true, true)
                                : quoted(l, k + 1, '"', true, false, false);
          emit(l, TARS_SPAN_STRING, i, end);
          return end;
        }
      if (at(l, k, "\"\"\""))
        c = '"', i = k; /* a raw string after its $ prefix: below */
      else
        return 0;
    }
  if (o->swift_raw && c == '#' && (ch(l, i + 1) == '"' || ch(l, i + 1) == '#'))
    {
      size_t h = i, hashes = 0;
      while (ch(l, h) == '#')
        h++, hashes++;
      if (ch(l, h) == '"')
        {
          bool triple = at(l, h, "\"\"\"");
          char close[260];
          size_t cn = 0;
          for (int q = 0; q < (triple ? 3 : 1); q++)
            close[cn++] = '"';
          for (size_t j = 0; j < hashes && cn < sizeof close - 1; j++)
            close[cn++] = '#';
          close[cn] = '\0';
          size_t end = until(l, h + (triple ? 3 : 1), close, false);
          emit(l, TARS_SPAN_STRING, i, end);
          return end;
        }
    }
  if (c == '"')
    {
      if (o->csharp && at(l, i, "\"\"\""))
        {
          /* A raw string: N >= 3 quotes open it, and N close it.  */
          size_t q = i;
          while (ch(l, q) == '"')
            q++;
          size_t nq = q - i;
          while (q < l->n)
            {
              size_t run = 0;
              while (ch(l, q + run) == '"')
                run++;
              if (run >= nq)
                {
                  q += run;
                  emit(l, TARS_SPAN_STRING, i, q);
                  return q;
                }
              q += run ? run : 1;
            }
          emit(l, TARS_SPAN_STRING, i, l->n);
          return l->n;
        }
      const char *hole = o->dollar_holes ? "${" : o->paren_holes ? "\\(" : NULL;
      if (o->triple != TRIPLE_NONE && at(l, i, "\"\"\""))
        return holed(l, o, i, i + 3, "\"\"\"", o->triple == TRIPLE_ESC, hole);
      if (hole)
        return holed(l, o, i, i + 1, "\"", true, hole);
      size_t end = quoted(l, i + 1, '"', true, false, false);
      emit(l, TARS_SPAN_STRING, i, end);
      return end;
    }
  if (c == '\'' && o->sq != SQ_NONE)
    {
      /* After an identifier only an encoding prefix (u'x', L'x') makes a char literal: 1'000
       * is a C++ digit separator.  */
      if (prev_ident && !(word_len == 1 && strchr("uUL", word[0])) &&
          !(word_len == 2 && memcmp(word, "u8", 2) == 0))
        return 0;
      if (o->sq == SQ_RUST && ch(l, i + 1) != '\\')
        {
          /* 'x' is a char, 'a alone a lifetime or a label.  */
          size_t k = i + 1;
          if (k < l->n && (unsigned char)l->s[k] >= 0x80)
            while (k + 1 < l->n && ((unsigned char)l->s[k + 1] & 0xc0) == 0x80)
              k++;
          if (ch(l, k + 1) != '\'')
            return 0;
        }
      size_t end = quoted(l, i + 1, '\'', true, false, false);
      emit(l, TARS_SPAN_STRING, i, end);
      return end;
    }
  if (c == '`' && o->bt == BT_RAW)
    {
      size_t end = quoted(l, i + 1, '`', false, false, true);
      emit(l, TARS_SPAN_STRING, i, end);
      return end;
    }
  if (c == '`' && o->bt == BT_TEMPLATE)
    return holed(l, o, i, i + 1, "`", true, "${");
  return 0;
}

/* Code from I to the end, or past the unmatched STOP ('}' or ')') that ends a template hole.  */
static size_t
cl_code(struct lx *l, const struct cl_opts *o, size_t i, char stop)
{
  char open = stop == '}' ? '{' : stop == ')' ? '(' : '\0';
  size_t depth = 0;
  char prev = '\0';                    /* the last character of code */
  size_t word_start = 0, word_len = 0; /* the identifier that ends at PREV */
  while (i < l->n)
    {
      char c = l->s[i];
      if (stop && c == open)
        depth++;
      else if (stop && c == stop)
        {
          if (depth == 0)
            return i + 1;
          depth--;
        }
      if (c == '/' && o->line && ch(l, i + 1) == '/')
        {
          size_t e = i + 2;
          for (;;)
            {
              e = line_end(l, e);
              /* C's line splicing continues the comment onto the next line.  */
              if (o->continuation && e < l->n && e > i + 2 &&
                  (l->s[e - 1] == '\\' || (l->s[e - 1] == '\r' && l->s[e - 2] == '\\')))
                {
                  e++;
                  continue;
                }
              break;
            }
          emit(l, TARS_SPAN_COMMENT, i + 2, e);
          i = e;
          continue;
        }
      if (c == '/' && ch(l, i + 1) == '*')
        {
          i = block_comment(l, i, o->nested);
          continue;
        }
      bool after_word = i > 0 && word_len > 0 && word_start + word_len == i;
      size_t end = cl_string(l, o, i, l->s + word_start, after_word ? word_len : 0);
      if (end > i)
        {
          i = end;
          prev = 'a'; /* an operand */
          word_len = 0;
          continue;
        }
      if (c == '/' && o->regex && operand_expected(prev, l->s + word_start, word_len))
        {
          size_t e = regex_literal(l, i + 1);
          emit(l, TARS_SPAN_STRING, i, e);
          i = e;
          prev = 'a';
          word_len = 0;
          continue;
        }
      if (is_ident(c))
        {
          if (!(word_len > 0 && word_start + word_len == i))
            {
              word_start = i;
              word_len = 0;
            }
          word_len++;
          prev = c;
        }
      else if (!is_space(c))
        {
          prev = c;
          word_len = 0;
        }
      i++;
    }
  return l->n;
}

/* ----- hash-comment families: Python, shell, Ruby, Perl, YAML, TOML, CMake, Make ----- */

static bool
py_prefix(const char *s, size_t n)
{
  /* r u b f br rb fr rf, any case */
  char a[3] = {0};
  if (n == 0 || n > 2)
    return false;
  for (size_t k = 0; k < n; k++)
    a[k] = (char)(s[k] | 0x20);
  if (n == 1)
    return strchr("rubf", a[0]) != NULL;
  return (a[0] == 'b' && a[1] == 'r') || (a[0] == 'r' && a[1] == 'b') ||
         (a[0] == 'f' && a[1] == 'r') || (a[0] == 'r' && a[1] == 'f');
}

static void
lex_python(struct lx *l, size_t i)
{
  while (i < l->n)
    {
      char c = l->s[i];
      if (c == '#')
        {
          size_t e = line_end(l, i);
          emit(l, TARS_SPAN_COMMENT, i + 1, e);
          i = e;
          continue;
        }
      size_t q = i;
      if (is_ident(c) && (i == 0 || !is_ident(l->s[i - 1])))
        {
          size_t k = i;
          while (k < l->n && is_ident(l->s[k]) && k - i < 3)
            k++;
          if ((ch(l, k) == '"' || ch(l, k) == '\'') && py_prefix(l->s + i, k - i))
            q = k;
        }
      c = ch(l, q);
      if (c == '"' || c == '\'')
        {
          char triple[4] = {c, c, c, 0};
          size_t end = at(l, q, triple) ? until(l, q + 3, triple, true)
                                        : quoted(l, q + 1, c, true, false, false);
          emit(l, TARS_SPAN_STRING, i, end);
          i = end;
          continue;
        }
      if (is_ident(l->s[i]))
        while (i < l->n && is_ident(l->s[i]))
          i++;
      else
        i++;
    }
}

/* Heredocs waiting for the end of the line that named them (shell, Ruby, Perl).  */
#define MAX_HEREDOCS 16
struct heredocs
{
  size_t n;
  struct
  {
    char word[128];
    bool indented; /* <<- (tabs) or <<~ (any whitespace) before the terminator */
  } v[MAX_HEREDOCS];
};

/* The bodies of the waiting heredocs, from I (the start of the line after the one naming them);
 * returns where code resumes.  */
static size_t
heredoc_bodies(struct lx *l, struct heredocs *h, size_t i)
{
  for (size_t k = 0; k < h->n && i < l->n; k++)
    {
      size_t start = i;
      size_t wl = strlen(h->v[k].word);
      while (i < l->n)
        {
          size_t e = line_end(l, i), b = i;
          if (h->v[k].indented)
            while (b < e && (l->s[b] == ' ' || l->s[b] == '\t'))
              b++;
          size_t t = e;
          if (t > b && l->s[t - 1] == '\r')
            t--;
          if (t - b == wl && memcmp(l->s + b, h->v[k].word, wl) == 0)
            {
              emit(l, TARS_SPAN_STRING, start, i);
              i = e < l->n ? e + 1 : e;
              goto next;
            }
          i = e < l->n ? e + 1 : e;
        }
      emit(l, TARS_SPAN_STRING, start, l->n);
    next:;
    }
  h->n = 0;
  return i;
}

/* A heredoc's word after "<<", "<<-" or "<<~" at I: quoted ('EOF', "EOF", \EOF) or bare.  Adds
 * it to H and returns where code resumes, or 0 when there is none.  */
static size_t
heredoc_word(const struct lx *l, size_t i, bool indented, bool bare_upper_only, struct heredocs *h)
{
  size_t k = i;
  char q = ch(l, k);
  char word[128];
  size_t wn = 0;
  if (q == '\'' || q == '"' || q == '`')
    {
      k++;
      while (k < l->n && l->s[k] != q && l->s[k] != '\n' && wn + 1 < sizeof word)
        word[wn++] = l->s[k++];
      if (ch(l, k) != q)
        return 0;
      k++;
    }
  else
    {
      if (q == '\\')
        k++;
      char f = ch(l, k);
      if (bare_upper_only ? !((f >= 'A' && f <= 'Z') || f == '_')
                          : !((f >= 'A' && f <= 'Z') || (f >= 'a' && f <= 'z') || f == '_'))
        return 0;
      while (k < l->n && (is_ident(l->s[k]) || l->s[k] == '-' || l->s[k] == '.') &&
             wn + 1 < sizeof word)
        word[wn++] = l->s[k++];
    }
  if (wn == 0 || h->n == MAX_HEREDOCS)
    return 0;
  word[wn] = '\0';
  memcpy(h->v[h->n].word, word, wn + 1);
  h->v[h->n].indented = indented;
  h->n++;
  return k;
}

static size_t sh_code(struct lx *l, size_t i, bool stop_paren);

/* A double-quoted shell string from I (past its quote): $(...) inside is code.  */
static size_t
sh_dquote(struct lx *l, size_t start, size_t i)
{
  size_t seg = start;
  while (i < l->n)
    {
      char c = l->s[i];
      if (c == '\\')
        {
          i += 2;
          continue;
        }
      if (c == '$' && ch(l, i + 1) == '(' && l->depth < MAX_DEPTH)
        {
          emit(l, TARS_SPAN_STRING, seg, i);
          l->depth++;
          i = sh_code(l, i + 2, true);
          l->depth--;
          seg = i;
          continue;
        }
      if (c == '"')
        {
          emit(l, TARS_SPAN_STRING, seg, i + 1);
          return i + 1;
        }
      i++;
    }
  emit(l, TARS_SPAN_STRING, seg, l->n);
  return l->n;
}

static size_t
sh_code(struct lx *l, size_t i, bool stop_paren)
{
  struct heredocs h = {0};
  size_t parens = 0;
  while (i < l->n)
    {
      char c = l->s[i];
      char p = i > 0 ? l->s[i - 1] : '\n';
      if (c == '\n')
        {
          i++;
          if (h.n)
            i = heredoc_bodies(l, &h, i);
          continue;
        }
      if (c == '\\')
        {
          i += 2;
          continue;
        }
      if (c == '#' && (is_space(p) || strchr(";&|()<>", p)))
        {
          size_t e = line_end(l, i);
          emit(l, TARS_SPAN_COMMENT, i + 1, e);
          i = e;
          continue;
        }
      if (c == '\'')
        {
          bool ansi = p == '$';
          size_t end = quoted(l, i + 1, '\'', ansi, false, true);
          emit(l, TARS_SPAN_STRING, ansi ? i - 1 : i, end);
          i = end;
          continue;
        }
      if (c == '"')
        {
          i = sh_dquote(l, i, i + 1);
          continue;
        }
      if (c == '`')
        {
          size_t end = quoted(l, i + 1, '`', true, false, true);
          emit(l, TARS_SPAN_STRING, i, end);
          i = end;
          continue;
        }
      if (c == '(' && ch(l, i + 1) == '(')
        {
          /* Arithmetic: its << is a shift, not a heredoc.  */
          size_t k = i + 2, level = 2;
          while (k < l->n && level)
            {
              if (l->s[k] == '(')
                level++;
              else if (l->s[k] == ')')
                level--;
              k++;
            }
          i = k;
          continue;
        }
      if (c == '<' && ch(l, i + 1) == '<' && ch(l, i + 2) != '<')
        {
          size_t k = i + 2;
          bool dash = ch(l, k) == '-';
          if (dash)
            k++;
          while (ch(l, k) == ' ' || ch(l, k) == '\t')
            k++;
          size_t r = heredoc_word(l, k, dash, false, &h);
          i = r ? r : i + 2;
          continue;
        }
      if (stop_paren)
        {
          if (c == '(')
            parens++;
          else if (c == ')')
            {
              if (parens == 0)
                return i + 1;
              parens--;
            }
        }
      i++;
    }
  return l->n;
}

/* Ruby and Perl quote-like literals: %q(...), q{...}, s/a/b/...  The delimiter at I; bracket
 * pairs nest.  PARTS: how many delimited parts (2 for s///, tr///).  */
static size_t
delimited(const struct lx *l, size_t i, int parts)
{
  for (int part = 0; part < parts && i < l->n; part++)
    {
      char open = l->s[i];
      char close = open == '('   ? ')'
                   : open == '[' ? ']'
                   : open == '{' ? '}'
                   : open == '<' ? '>'
                                 : open;
      size_t depth = 0, k = i + 1;
      while (k < l->n)
        {
          char c = l->s[k];
          if (c == '\\')
            {
              k += 2;
              continue;
            }
          if (close != open && c == open)
            depth++;
          else if (c == close)
            {
              if (depth == 0)
                break;
              depth--;
            }
          k++;
        }
      if (k >= l->n)
        return l->n;
      if (close != open)
        {
          /* s{a}{b}: the next part has delimiters of its own, maybe after whitespace.  */
          k++;
          if (part + 1 < parts)
            while (k < l->n && is_space(l->s[k]))
              k++;
          i = k;
        }
      else
        i = part + 1 < parts ? k : k + 1;
    }
  while (i < l->n && ((l->s[i] >= 'a' && l->s[i] <= 'z') || (l->s[i] >= 'A' && l->s[i] <= 'Z')))
    i++;
  return i;
}

static bool
line_start(const struct lx *l, size_t i)
{
  return i == 0 || l->s[i - 1] == '\n';
}

/* Ruby's and Perl's code: both have heredocs, quote-like operators, POD or =begin blocks, an
 * __END__ after which nothing is code, and '/' regular expressions.  */
static void
lex_ruby_perl(struct lx *l, size_t i, bool perl)
{
  struct heredocs h = {0};
  char prev = '\0';
  size_t word_start = 0, word_len = 0;
  while (i < l->n)
    {
      char c = l->s[i];
      if (line_start(l, i))
        {
          if (at(l, i, "__END__") || (perl && at(l, i, "__DATA__")))
            {
              emit(l, TARS_SPAN_STRING, i, l->n);
              return;
            }
          if (!perl && at(l, i, "=begin") && (is_space(ch(l, i + 6)) || i + 6 == l->n))
            {
              size_t body = line_end(l, i);
              size_t e = body;
              while (e < l->n && !(line_start(l, e + 1) && at(l, e + 1, "=end")))
                e = line_end(l, e + 1);
              emit(l, TARS_SPAN_COMMENT, body, e);
              i = line_end(l, e + 1);
              continue;
            }
          if (perl && c == '=' &&
              ((ch(l, i + 1) >= 'a' && ch(l, i + 1) <= 'z') ||
               (ch(l, i + 1) >= 'A' && ch(l, i + 1) <= 'Z')))
            {
              /* POD, to the line starting with =cut.  */
              size_t e = i;
              while (e < l->n && !(line_start(l, e) && at(l, e, "=cut")))
                e = line_end(l, e) + 1;
              if (e > l->n)
                e = l->n;
              emit(l, TARS_SPAN_COMMENT, i, e);
              i = line_end(l, e);
              continue;
            }
        }
      if (c == '\n')
        {
          i++;
          if (h.n)
            i = heredoc_bodies(l, &h, i);
          continue;
        }
      if (c == '#' && !(perl && i > 0 && l->s[i - 1] == '$'))
        {
          size_t e = line_end(l, i);
          emit(l, TARS_SPAN_COMMENT, i + 1, e);
          i = e;
          continue;
        }
      if (c == '\\' && perl)
        {
          i += 2;
          continue;
        }
      size_t end = 0;
      if (c == '\'' || c == '"' || c == '`')
        end = quoted(l, i + 1, c, true, false, true);
      else if (c == '<' && ch(l, i + 1) == '<')
        {
          size_t k = i + 2;
          bool ind = ch(l, k) == '~' || (!perl && ch(l, k) == '-');
          if (ind)
            k++;
          size_t r = heredoc_word(l, k, ind, !perl && !ind, &h);
          if (r)
            {
              i = r;
              prev = 'a';
              word_len = 0;
              continue;
            }
        }
      else if (c == '/' && operand_expected(prev, l->s + word_start, word_len))
        end = delimited(l, i, 1);
      else if (!perl && c == '%' && operand_expected(prev, l->s + word_start, word_len))
        {
          size_t k = i + 1;
          if (strchr("qQwWiIxsr", ch(l, k)) && ch(l, k) != '\0')
            k++;
          char d = ch(l, k);
          if (d && !is_ident(d) && !is_space(d) && d != '=')
            end = delimited(l, k, 1);
        }
      else if (perl && is_ident(c) && !(word_len > 0 && word_start + word_len == i) &&
               !(i > 0 && strchr("$@%&>", l->s[i - 1]) && l->s[i - 1] != '\0'))
        {
          /* q qq qw qx qr m s tr y, then a delimiter (not a fat comma: "y => 1").  */
          size_t k = i;
          while (k < l->n && is_ident(l->s[k]))
            k++;
          size_t wl = k - i;
          int parts = 0;
          if ((wl == 1 && (c == 'q' || c == 'm')) ||
              (wl == 2 && (at(l, i, "qq") || at(l, i, "qw") || at(l, i, "qx") || at(l, i, "qr"))))
            parts = 1;
          else if ((wl == 1 && (c == 's' || c == 'y')) || (wl == 2 && at(l, i, "tr")))
            parts = 2;
          if (parts)
            {
              size_t d = k;
              while (d < l->n && (l->s[d] == ' ' || l->s[d] == '\t'))
                d++;
              char dc = ch(l, d);
              bool ok = dc && !is_ident(dc) && !is_space(dc) && dc != ',' && dc != ';' &&
                        dc != ')' && dc != '}' && dc != ']' &&
                        !(dc == '=' && ch(l, d + 1) == '>') && !(dc == '#' && d > k) &&
                        !(dc == '=' && parts == 1 && d > k);
              if (ok)
                end = delimited(l, d, parts);
            }
        }
      if (end > i)
        {
          emit(l, TARS_SPAN_STRING, i, end);
          i = end;
          prev = 'a';
          word_len = 0;
          continue;
        }
      if (is_ident(c))
        {
          if (!(word_len > 0 && word_start + word_len == i))
            {
              word_start = i;
              word_len = 0;
            }
          word_len++;
          prev = c;
        }
      else if (!is_space(c))
        {
          prev = c;
          word_len = 0;
        }
      i++;
    }
}

/* YAML, line by line: '#' starts a comment at a line's start or after whitespace; quotes start
 * strings only where a scalar starts; the lines of a block scalar (| or >) are a string.  */
static void
lex_yaml(struct lx *l, size_t i)
{
  while (i < l->n)
    {
      size_t e = line_end(l, i), indent = 0;
      while (i + indent < e && l->s[i + indent] == ' ')
        indent++;
      size_t k = i + indent;
      char prev = '\0'; /* last non-space character of the line so far */
      bool block = false;
      while (k < e)
        {
          char c = l->s[k];
          if (c == '#' && (k == i + indent || is_space(l->s[k - 1])))
            {
              emit(l, TARS_SPAN_COMMENT, k + 1, e);
              break;
            }
          if ((c == '\'' || c == '"') && (prev == '\0' || strchr(":-[{,?", prev)))
            {
              size_t end = c == '\'' ? quoted(l, k + 1, '\'', false, true, true)
                                     : quoted(l, k + 1, '"', true, false, true);
              emit(l, TARS_SPAN_STRING, k, end);
              k = end;
              prev = 'a';
              if (k > e)
                e = line_end(l, k);
              continue;
            }
          if ((c == '|' || c == '>') && (prev == ':' || prev == '-' || prev == '\0'))
            {
              size_t m = k + 1;
              while (m < e && strchr("+-0123456789", l->s[m]))
                m++;
              while (m < e && (l->s[m] == ' ' || l->s[m] == '\t'))
                m++;
              if (m == e || (l->s[m] == '#') || l->s[m] == '\r')
                block = true;
            }
          if (!is_space(c))
            prev = c;
          k++;
        }
      i = e < l->n ? e + 1 : e;
      if (!block)
        continue;
      /* The block scalar's lines: blank, or indented deeper than the line that opened it.  */
      size_t start = i;
      while (i < l->n)
        {
          size_t le = line_end(l, i), ind = 0;
          while (i + ind < le && l->s[i + ind] == ' ')
            ind++;
          bool blank = i + ind == le || (l->s[i + ind] == '\r' && i + ind + 1 == le);
          if (!blank && ind <= indent)
            break;
          i = le < l->n ? le + 1 : le;
        }
      emit(l, TARS_SPAN_STRING, start, i);
    }
}

static void
lex_toml(struct lx *l, size_t i)
{
  while (i < l->n)
    {
      char c = l->s[i];
      if (c == '#')
        {
          size_t e = line_end(l, i);
          emit(l, TARS_SPAN_COMMENT, i + 1, e);
          i = e;
          continue;
        }
      if (c == '"' || c == '\'')
        {
          char triple[4] = {c, c, c, 0};
          size_t end = at(l, i, triple) ? until(l, i + 3, triple, c == '"')
                                        : quoted(l, i + 1, c, c == '"', false, false);
          emit(l, TARS_SPAN_STRING, i, end);
          i = end;
          continue;
        }
      i++;
    }
}

/* CMake's [[...]], [=[...]=]: the number of '=' after I's '['; -1 when I starts none.  */
static int
bracket_level(const struct lx *l, size_t i)
{
  if (ch(l, i) != '[')
    return -1;
  size_t k = i + 1;
  while (ch(l, k) == '=')
    k++;
  return ch(l, k) == '[' ? (int)(k - i - 1) : -1;
}

/* The "]=*]" closing a level-LEVEL bracket opened before I: *TEXT_END gets where the bracket's
 * text ends (the closer, or the end), and the result is past the closer.  */
static size_t
bracket_close(const struct lx *l, size_t i, int level, size_t *text_end)
{
  char close[300] = "]";
  size_t cn = 1;
  for (int k = 0; k < level && cn < sizeof close - 2; k++)
    close[cn++] = '=';
  close[cn++] = ']';
  close[cn] = '\0';
  for (size_t k = i; k + cn <= l->n; k++)
    if (memcmp(l->s + k, close, cn) == 0)
      {
        *text_end = k;
        return k + cn;
      }
  *text_end = l->n;
  return l->n;
}

static void
lex_cmake(struct lx *l, size_t i)
{
  while (i < l->n)
    {
      char c = l->s[i];
      if (c == '#')
        {
          int level = bracket_level(l, i + 1);
          if (level >= 0)
            {
              size_t body = i + 3 + (size_t)level, text_end;
              size_t end = bracket_close(l, body, level, &text_end);
              emit(l, TARS_SPAN_COMMENT, body, text_end);
              i = end;
              continue;
            }
          size_t e = line_end(l, i);
          emit(l, TARS_SPAN_COMMENT, i + 1, e);
          i = e;
          continue;
        }
      if (c == '"')
        {
          size_t end = quoted(l, i + 1, '"', true, false, true);
          emit(l, TARS_SPAN_STRING, i, end);
          i = end;
          continue;
        }
      int level = bracket_level(l, i);
      if (level >= 0 && (i == 0 || is_space(l->s[i - 1]) || l->s[i - 1] == '('))
        {
          size_t text_end;
          size_t end = bracket_close(l, i + 2 + (size_t)level, level, &text_end);
          emit(l, TARS_SPAN_STRING, i, end);
          i = end;
          continue;
        }
      i++;
    }
}

/* Make: '#' starts a comment unless escaped, and runs to the end of the logical line; a recipe
 * line (a tab first) is the shell's.  */
static void
lex_make(struct lx *l, size_t i)
{
  while (i < l->n)
    {
      size_t e = i;
      /* The logical line: backslash-newlines continue it.  */
      for (;;)
        {
          e = line_end(l, e);
          if (e < l->n && e > i && l->s[e - 1] == '\\')
            {
              e++;
              continue;
            }
          break;
        }
      if (l->s[i] == '\t')
        {
          struct lx sub = *l;
          sub.n = e;
          sh_code(&sub, i + 1, false);
        }
      else
        for (size_t k = i; k < e; k++)
          if (l->s[k] == '#' && (k == i || l->s[k - 1] != '\\'))
            {
              emit(l, TARS_SPAN_COMMENT, k + 1, e);
              break;
            }
      i = e < l->n ? e + 1 : e;
    }
}

/* ----- SQL, Lua, Haskell ----- */

static void
lex_sql(struct lx *l, size_t i)
{
  while (i < l->n)
    {
      char c = l->s[i];
      if (c == '-' && ch(l, i + 1) == '-')
        {
          size_t e = line_end(l, i);
          emit(l, TARS_SPAN_COMMENT, i + 2, e);
          i = e;
          continue;
        }
      if (c == '/' && ch(l, i + 1) == '*')
        {
          i = block_comment(l, i, true);
          continue;
        }
      if (c == '\'')
        {
          bool esc = i > 0 && (l->s[i - 1] == 'E' || l->s[i - 1] == 'e') &&
                     (i < 2 || !is_ident(l->s[i - 2]));
          size_t end = quoted(l, i + 1, '\'', esc, true, true);
          emit(l, TARS_SPAN_STRING, esc ? i - 1 : i, end);
          i = end;
          continue;
        }
      if (c == '"')
        {
          size_t end = quoted(l, i + 1, '"', false, true, true);
          emit(l, TARS_SPAN_STRING, i, end);
          i = end;
          continue;
        }
      if (c == '$' && !(i > 0 && is_ident(l->s[i - 1])))
        {
          /* $tag$ ... $tag$ (the tag may be empty; $1 is a parameter).  */
          size_t k = i + 1;
          if (!(ch(l, k) >= '0' && ch(l, k) <= '9'))
            {
              while (k < l->n && is_ident(l->s[k]))
                k++;
              if (ch(l, k) == '$' && k - i - 1 < 64)
                {
                  char tag[70];
                  memcpy(tag, l->s + i, k - i + 1);
                  tag[k - i + 1] = '\0';
                  size_t end = until(l, k + 1, tag, false);
                  emit(l, TARS_SPAN_STRING, i, end);
                  i = end;
                  continue;
                }
            }
        }
      i++;
    }
}

static void
lex_lua(struct lx *l, size_t i)
{
  while (i < l->n)
    {
      char c = l->s[i];
      if (c == '-' && ch(l, i + 1) == '-')
        {
          int level = bracket_level(l, i + 2);
          if (level >= 0)
            {
              size_t body = i + 4 + (size_t)level, text_end;
              size_t end = bracket_close(l, body, level, &text_end);
              emit(l, TARS_SPAN_COMMENT, body, text_end);
              i = end;
              continue;
            }
          size_t e = line_end(l, i);
          emit(l, TARS_SPAN_COMMENT, i + 2, e);
          i = e;
          continue;
        }
      int level = bracket_level(l, i);
      if (level >= 0)
        {
          size_t text_end;
          size_t end = bracket_close(l, i + 2 + (size_t)level, level, &text_end);
          emit(l, TARS_SPAN_STRING, i, end);
          i = end;
          continue;
        }
      if (c == '"' || c == '\'')
        {
          size_t end = quoted(l, i + 1, c, true, false, false);
          emit(l, TARS_SPAN_STRING, i, end);
          i = end;
          continue;
        }
      i++;
    }
}

static bool
hs_symbol(char c)
{
  return c && strchr("!#$%&*+./<=>?@\\^|-~:", c) != NULL;
}

static void
lex_haskell(struct lx *l, size_t i)
{
  while (i < l->n)
    {
      char c = l->s[i];
      if (c == '{' && ch(l, i + 1) == '-')
        {
          size_t k = i + 2, level = 1;
          while (k < l->n && level)
            {
              if (at(l, k, "{-"))
                level++, k += 2;
              else if (at(l, k, "-}"))
                level--, k += 2;
              else
                k++;
            }
          emit(l, TARS_SPAN_COMMENT, i + 2, level ? l->n : k - 2);
          i = k;
          continue;
        }
      if (c == '-' && ch(l, i + 1) == '-' && !(i > 0 && hs_symbol(l->s[i - 1])))
        {
          size_t k = i;
          while (ch(l, k) == '-')
            k++;
          if (!hs_symbol(ch(l, k)))
            {
              size_t e = line_end(l, i);
              emit(l, TARS_SPAN_COMMENT, k, e);
              i = e;
              continue;
            }
          i = k;
          continue;
        }
      if (c == '"')
        {
          size_t end = quoted(l, i + 1, '"', true, false, false);
          emit(l, TARS_SPAN_STRING, i, end);
          i = end;
          continue;
        }
      if (c == '\'' && !(i > 0 && (is_ident(l->s[i - 1]) || l->s[i - 1] == '\'')))
        {
          size_t k = i + 1;
          if (ch(l, k) == '\\')
            k = quoted(l, k, '\'', true, false, false);
          else
            {
              if ((unsigned char)ch(l, k) >= 0x80)
                while (k + 1 < l->n && ((unsigned char)l->s[k + 1] & 0xc0) == 0x80)
                  k++;
              k = ch(l, k + 1) == '\'' ? k + 2 : i + 1;
            }
          if (k > i + 1)
            emit(l, TARS_SPAN_STRING, i, k);
          i = k;
          continue;
        }
      i++;
    }
}

/* ----- markup: HTML, XML, Markdown ----- */

static size_t
ci_find(const struct lx *l, size_t i, const char *lit)
{
  size_t k = strlen(lit);
  for (; i + k <= l->n; i++)
    if (strncasecmp(l->s + i, lit, k) == 0)
      return i;
  return l->n;
}

static void lex_range(enum tars_lex_lang lang, struct lx *l, size_t start);

static void
lex_markup(struct lx *l, size_t i, bool html)
{
  while (i < l->n)
    {
      if (at(l, i, "<!--"))
        {
          size_t e = until(l, i + 4, "-->", false);
          emit(l, TARS_SPAN_COMMENT, i + 4, e >= i + 7 && at(l, e - 3, "-->") ? e - 3 : e);
          i = e;
          continue;
        }
      if (at(l, i, "<![CDATA["))
        {
          size_t e = until(l, i + 9, "]]>", false);
          emit(l, TARS_SPAN_STRING, i, e);
          i = e;
          continue;
        }
      char c = l->s[i];
      if (c == '<' && (is_ident(ch(l, i + 1)) || ch(l, i + 1) == '/' || ch(l, i + 1) == '?' ||
                       ch(l, i + 1) == '!'))
        {
          /* A tag: its quoted attribute values are strings.  */
          size_t k = i + 1;
          while (k < l->n && l->s[k] != '>')
            {
              if (l->s[k] == '"' || l->s[k] == '\'')
                {
                  size_t end = quoted(l, k + 1, l->s[k], false, false, true);
                  emit(l, TARS_SPAN_STRING, k, end);
                  k = end;
                  continue;
                }
              k++;
            }
          size_t tag_end = k < l->n ? k + 1 : l->n;
          bool script = html && strncasecmp(l->s + i, "<script", 7) == 0 && !is_ident(ch(l, i + 7));
          bool style = html && strncasecmp(l->s + i, "<style", 6) == 0 && !is_ident(ch(l, i + 6));
          if ((script || style) && l->depth < MAX_DEPTH)
            {
              size_t close = ci_find(l, tag_end, script ? "</script" : "</style");
              struct lx sub = *l;
              sub.n = close;
              sub.depth++;
              lex_range(script ? TARS_LEX_JS : TARS_LEX_CSS, &sub, tag_end);
              i = close;
              continue;
            }
          i = tag_end;
          continue;
        }
      i++;
    }
}

static void
lex_markdown(struct lx *l, size_t i)
{
  while (i < l->n)
    {
      if (line_start(l, i))
        {
          size_t k = i, sp = 0;
          while (ch(l, k) == ' ' && sp < 3)
            k++, sp++;
          char f = ch(l, k);
          if (f == '`' || f == '~')
            {
              size_t run = 0;
              while (ch(l, k + run) == f)
                run++;
              if (run >= 3)
                {
                  /* A fenced code block, to a fence of the same character at least as long.  */
                  size_t e = line_end(l, k);
                  while (e < l->n)
                    {
                      size_t b = e + 1, s2 = 0;
                      while (ch(l, b) == ' ' && s2 < 3)
                        b++, s2++;
                      size_t r2 = 0;
                      while (ch(l, b + r2) == f)
                        r2++;
                      e = line_end(l, b);
                      if (r2 >= run)
                        break;
                    }
                  emit(l, TARS_SPAN_STRING, i, e);
                  i = e;
                  continue;
                }
            }
        }
      char c = l->s[i];
      if (c == '`')
        {
          size_t run = 0;
          while (ch(l, i + run) == '`')
            run++;
          char close[64];
          size_t cn = run < sizeof close - 1 ? run : sizeof close - 1;
          memset(close, '`', cn);
          close[cn] = '\0';
          size_t e = until(l, i + run, close, false);
          if (e == l->n && !(e >= i + 2 * run && at(l, e - cn, close)))
            {
              /* No closing run: the backticks are literal.  */
              i += run;
              continue;
            }
          emit(l, TARS_SPAN_STRING, i, e);
          i = e;
          continue;
        }
      if (at(l, i, "<!--"))
        {
          size_t e = until(l, i + 4, "-->", false);
          emit(l, TARS_SPAN_COMMENT, i + 4, e >= i + 7 && at(l, e - 3, "-->") ? e - 3 : e);
          i = e;
          continue;
        }
      i++;
    }
}

/* ----- dispatch ----- */

static void
lex_range(enum tars_lex_lang lang, struct lx *l, size_t start)
{
  const struct cl_opts *o = NULL;
  switch (lang)
    {
    case TARS_LEX_C:
    case TARS_LEX_OBJC:
      o = &opts_c;
      break;
    case TARS_LEX_CPP:
      o = &opts_cpp;
      break;
    case TARS_LEX_JAVA:
      o = &opts_java;
      break;
    case TARS_LEX_KOTLIN:
      o = &opts_kotlin;
      break;
    case TARS_LEX_SCALA:
      o = &opts_scala;
      break;
    case TARS_LEX_SWIFT:
      o = &opts_swift;
      break;
    case TARS_LEX_GO:
      o = &opts_go;
      break;
    case TARS_LEX_RUST:
      o = &opts_rust;
      break;
    case TARS_LEX_JS:
    case TARS_LEX_TS:
      o = &opts_js;
      break;
    case TARS_LEX_CSHARP:
      o = &opts_csharp;
      break;
    case TARS_LEX_CSS:
      o = &opts_css;
      break;
    case TARS_LEX_PYTHON:
      lex_python(l, start);
      return;
    case TARS_LEX_SHELL:
      sh_code(l, start, false);
      return;
    case TARS_LEX_RUBY:
      lex_ruby_perl(l, start, false);
      return;
    case TARS_LEX_PERL:
      lex_ruby_perl(l, start, true);
      return;
    case TARS_LEX_YAML:
      lex_yaml(l, start);
      return;
    case TARS_LEX_TOML:
      lex_toml(l, start);
      return;
    case TARS_LEX_CMAKE:
      lex_cmake(l, start);
      return;
    case TARS_LEX_MAKE:
      lex_make(l, start);
      return;
    case TARS_LEX_SQL:
      lex_sql(l, start);
      return;
    case TARS_LEX_LUA:
      lex_lua(l, start);
      return;
    case TARS_LEX_HASKELL:
      lex_haskell(l, start);
      return;
    case TARS_LEX_HTML:
      lex_markup(l, start, true);
      return;
    case TARS_LEX_XML:
      lex_markup(l, start, false);
      return;
    case TARS_LEX_MARKDOWN:
      lex_markdown(l, start);
      return;
    case TARS_LEX_UNKNOWN:
    case TARS_LEX_COUNT:
      return;
    }
  cl_code(l, o, start, '\0');
}

void
tars_lex(enum tars_lex_lang lang, const char *text, size_t len, tars_span_fn fn, void *arg)
{
  struct lx l = {.s = text, .n = len, .fn = fn, .arg = arg};
  /* A #! line is not code (and a '/' in it starts no regular expression).  */
  size_t start = 0;
  if (len >= 2 && text[0] == '#' && text[1] == '!' && lang != TARS_LEX_PYTHON &&
      lang != TARS_LEX_SHELL && lang != TARS_LEX_RUBY && lang != TARS_LEX_PERL)
    start = line_end(&l, 0);
  lex_range(lang, &l, start);
}
