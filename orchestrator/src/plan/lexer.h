/* Comments and strings of source files, per language family: what the analyzer needs to tell a
 * TODO in a comment from the same letters in a string, a raw string, a heredoc or a template
 * literal, and to find where a function's braces close.
 *
 * A lexer reports spans: each comment with the byte range of its text (without its delimiters),
 * and each string-like literal with its whole range (delimiters included).  Everything outside
 * them is code.  The lexers are tolerant: unterminated literals run to the end of the file,
 * never past it, and no input makes them fail.  */
#ifndef TARS_LEXER_H
#define TARS_LEXER_H

#include <stdbool.h>
#include <stddef.h>

enum tars_lex_lang
{
  TARS_LEX_UNKNOWN = 0,
  TARS_LEX_C,
  TARS_LEX_CPP,
  TARS_LEX_OBJC,
  TARS_LEX_JAVA,
  TARS_LEX_KOTLIN,
  TARS_LEX_SCALA,
  TARS_LEX_SWIFT,
  TARS_LEX_GO,
  TARS_LEX_RUST,
  TARS_LEX_JS,
  TARS_LEX_TS,
  TARS_LEX_CSHARP,
  TARS_LEX_CSS,
  TARS_LEX_PYTHON,
  TARS_LEX_SHELL,
  TARS_LEX_RUBY,
  TARS_LEX_PERL,
  TARS_LEX_SQL,
  TARS_LEX_LUA,
  TARS_LEX_HASKELL,
  TARS_LEX_HTML,
  TARS_LEX_XML,
  TARS_LEX_MARKDOWN,
  TARS_LEX_YAML,
  TARS_LEX_TOML,
  TARS_LEX_CMAKE,
  TARS_LEX_MAKE,
  TARS_LEX_COUNT,
};

/* How the enclosing function of a line is found (context.c).  */
enum tars_fn_ranges
{
  TARS_FN_NONE,     /* the language has no functions: a TODO is at file scope */
  TARS_FN_CTAGS,    /* ctags gives each function's first and last line */
  TARS_FN_BRACES,   /* ctags gives the first line; the matching braces the last */
  TARS_FN_KEYWORDS, /* ctags gives the first line; block keywords (Lua's end) the last */
  TARS_FN_UNKNOWN,  /* ctags does not delimit them: the context is missing */
};

struct tars_lang_info
{
  const char *name;   /* "c", "python", ...: as the JSON and SARIF name it */
  const char *family; /* the comment syntax it shares: "c", "hash", "html"... */
  enum tars_fn_ranges fn_ranges;
};

const struct tars_lang_info *tars_lang_info(enum tars_lex_lang lang);

/* The language of the file at PATH (repo-relative) from its name, else from the first line of
 * its content HEAD (a #! line naming sh, bash, python, ruby, perl...).  */
enum tars_lex_lang tars_lang_detect(const char *path, const char *head, size_t head_len);

enum tars_span_kind
{
  TARS_SPAN_COMMENT, /* START..END is the comment's text */
  TARS_SPAN_STRING,  /* START..END is the whole literal */
};

typedef void (*tars_span_fn)(void *arg, enum tars_span_kind kind, size_t start, size_t end);

/* Lex TEXT (LEN bytes) as LANG, calling FN for each comment and string in order.  */
void tars_lex(enum tars_lex_lang lang, const char *text, size_t len, tars_span_fn fn, void *arg);

#endif
