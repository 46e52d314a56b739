/* Which language a file is in, and what each language's family is (lexer.h).  */
#include <string.h>
#include <strings.h>

#include "plan/lexer.h"

static const struct tars_lang_info infos[TARS_LEX_COUNT] = {
    [TARS_LEX_UNKNOWN] = {"unknown", "none", TARS_FN_UNKNOWN},
    [TARS_LEX_C] = {"c", "c", TARS_FN_CTAGS},
    [TARS_LEX_CPP] = {"cpp", "c", TARS_FN_CTAGS},
    [TARS_LEX_OBJC] = {"objc", "c", TARS_FN_BRACES},
    [TARS_LEX_JAVA] = {"java", "c", TARS_FN_CTAGS},
    [TARS_LEX_KOTLIN] = {"kotlin", "c", TARS_FN_BRACES},
    [TARS_LEX_SCALA] = {"scala", "c", TARS_FN_BRACES},
    [TARS_LEX_SWIFT] = {"swift", "c", TARS_FN_BRACES},
    [TARS_LEX_GO] = {"go", "c", TARS_FN_CTAGS},
    [TARS_LEX_RUST] = {"rust", "c", TARS_FN_BRACES},
    [TARS_LEX_JS] = {"javascript", "c", TARS_FN_BRACES},
    [TARS_LEX_TS] = {"typescript", "c", TARS_FN_BRACES},
    [TARS_LEX_CSHARP] = {"csharp", "c", TARS_FN_CTAGS},
    [TARS_LEX_CSS] = {"css", "c", TARS_FN_NONE},
    [TARS_LEX_PYTHON] = {"python", "hash", TARS_FN_CTAGS},
    [TARS_LEX_SHELL] = {"shell", "hash", TARS_FN_BRACES},
    [TARS_LEX_RUBY] = {"ruby", "hash", TARS_FN_CTAGS},
    [TARS_LEX_PERL] = {"perl", "hash", TARS_FN_BRACES},
    [TARS_LEX_SQL] = {"sql", "sql", TARS_FN_UNKNOWN},
    [TARS_LEX_LUA] = {"lua", "lua", TARS_FN_KEYWORDS},
    [TARS_LEX_HASKELL] = {"haskell", "haskell", TARS_FN_UNKNOWN},
    [TARS_LEX_HTML] = {"html", "html", TARS_FN_NONE},
    [TARS_LEX_XML] = {"xml", "html", TARS_FN_NONE},
    [TARS_LEX_MARKDOWN] = {"markdown", "html", TARS_FN_NONE},
    [TARS_LEX_YAML] = {"yaml", "hash", TARS_FN_NONE},
    [TARS_LEX_TOML] = {"toml", "hash", TARS_FN_NONE},
    [TARS_LEX_CMAKE] = {"cmake", "hash", TARS_FN_CTAGS},
    [TARS_LEX_MAKE] = {"make", "hash", TARS_FN_NONE},
};

const struct tars_lang_info *
tars_lang_info(enum tars_lex_lang lang)
{
  return &infos[(unsigned)lang < TARS_LEX_COUNT ? lang : TARS_LEX_UNKNOWN];
}

static const struct
{
  const char *ext;
  enum tars_lex_lang lang;
} by_ext[] = {
    {"c", TARS_LEX_C},         {"h", TARS_LEX_C},
    {"cc", TARS_LEX_CPP},      {"cpp", TARS_LEX_CPP},
    {"cxx", TARS_LEX_CPP},     {"c++", TARS_LEX_CPP},
    {"hh", TARS_LEX_CPP},      {"hpp", TARS_LEX_CPP},
    {"hxx", TARS_LEX_CPP},     {"h++", TARS_LEX_CPP},
    {"ipp", TARS_LEX_CPP},     {"tpp", TARS_LEX_CPP},
    {"m", TARS_LEX_OBJC},      {"mm", TARS_LEX_OBJC},
    {"java", TARS_LEX_JAVA},   {"kt", TARS_LEX_KOTLIN},
    {"kts", TARS_LEX_KOTLIN},  {"scala", TARS_LEX_SCALA},
    {"sc", TARS_LEX_SCALA},    {"swift", TARS_LEX_SWIFT},
    {"go", TARS_LEX_GO},       {"rs", TARS_LEX_RUST},
    {"js", TARS_LEX_JS},       {"mjs", TARS_LEX_JS},
    {"cjs", TARS_LEX_JS},      {"jsx", TARS_LEX_JS},
    {"ts", TARS_LEX_TS},       {"tsx", TARS_LEX_TS},
    {"mts", TARS_LEX_TS},      {"cts", TARS_LEX_TS},
    {"cs", TARS_LEX_CSHARP},   {"css", TARS_LEX_CSS},
    {"py", TARS_LEX_PYTHON},   {"pyw", TARS_LEX_PYTHON},
    {"pyi", TARS_LEX_PYTHON},  {"sh", TARS_LEX_SHELL},
    {"bash", TARS_LEX_SHELL},  {"zsh", TARS_LEX_SHELL},
    {"ksh", TARS_LEX_SHELL},   {"rb", TARS_LEX_RUBY},
    {"rake", TARS_LEX_RUBY},   {"gemspec", TARS_LEX_RUBY},
    {"pl", TARS_LEX_PERL},     {"pm", TARS_LEX_PERL},
    {"t", TARS_LEX_PERL},      {"sql", TARS_LEX_SQL},
    {"lua", TARS_LEX_LUA},     {"hs", TARS_LEX_HASKELL},
    {"html", TARS_LEX_HTML},   {"htm", TARS_LEX_HTML},
    {"xhtml", TARS_LEX_HTML},  {"xml", TARS_LEX_XML},
    {"xsd", TARS_LEX_XML},     {"xsl", TARS_LEX_XML},
    {"xslt", TARS_LEX_XML},    {"svg", TARS_LEX_XML},
    {"md", TARS_LEX_MARKDOWN}, {"markdown", TARS_LEX_MARKDOWN},
    {"yml", TARS_LEX_YAML},    {"yaml", TARS_LEX_YAML},
    {"toml", TARS_LEX_TOML},   {"cmake", TARS_LEX_CMAKE},
    {"mk", TARS_LEX_MAKE},     {"mak", TARS_LEX_MAKE},
};

static const struct
{
  const char *name;
  enum tars_lex_lang lang;
} by_name[] = {
    {"CMakeLists.txt", TARS_LEX_CMAKE}, {"Makefile", TARS_LEX_MAKE},
    {"makefile", TARS_LEX_MAKE},        {"GNUmakefile", TARS_LEX_MAKE},
    {"Rakefile", TARS_LEX_RUBY},        {"Gemfile", TARS_LEX_RUBY},
    {".bashrc", TARS_LEX_SHELL},        {".profile", TARS_LEX_SHELL},
    {".bash_profile", TARS_LEX_SHELL},  {".zshrc", TARS_LEX_SHELL},
};

static const struct
{
  const char *interp; /* a prefix of the interpreter's name: "python" covers python3.11 */
  enum tars_lex_lang lang;
} by_interp[] = {
    {"sh", TARS_LEX_SHELL},      {"bash", TARS_LEX_SHELL}, {"dash", TARS_LEX_SHELL},
    {"zsh", TARS_LEX_SHELL},     {"ksh", TARS_LEX_SHELL},  {"ash", TARS_LEX_SHELL},
    {"python", TARS_LEX_PYTHON}, {"ruby", TARS_LEX_RUBY},  {"perl", TARS_LEX_PERL},
    {"lua", TARS_LEX_LUA},       {"node", TARS_LEX_JS},    {"nodejs", TARS_LEX_JS},
};

/* The interpreter a "#!" line names: its basename, or the program env(1) is asked to run.  */
static enum tars_lex_lang
from_shebang(const char *head, size_t len)
{
  if (len < 3 || head[0] != '#' || head[1] != '!')
    return TARS_LEX_UNKNOWN;
  char line[256];
  size_t n = 0;
  for (size_t i = 2; i < len && head[i] != '\n' && n + 1 < sizeof line; i++)
    line[n++] = head[i];
  line[n] = '\0';
  char *save = NULL, *word = strtok_r(line, " \t\r", &save);
  if (word == NULL)
    return TARS_LEX_UNKNOWN;
  const char *base = strrchr(word, '/') ? strrchr(word, '/') + 1 : word;
  if (strcmp(base, "env") == 0)
    {
      do
        word = strtok_r(NULL, " \t\r", &save);
      while (word && (word[0] == '-' || strchr(word, '=')));
      if (word == NULL)
        return TARS_LEX_UNKNOWN;
      base = strrchr(word, '/') ? strrchr(word, '/') + 1 : word;
    }
  for (size_t i = 0; i < sizeof by_interp / sizeof by_interp[0]; i++)
    {
      size_t k = strlen(by_interp[i].interp);
      if (strncmp(base, by_interp[i].interp, k) != 0)
        continue;
      /* "sh" must not take "shfmt": only digits, dots and dashes may follow.  */
      const char *rest = base + k;
      while (*rest && (*rest == '.' || *rest == '-' || (*rest >= '0' && *rest <= '9')))
        rest++;
      if (*rest == '\0')
        return by_interp[i].lang;
    }
  return TARS_LEX_UNKNOWN;
}

enum tars_lex_lang
tars_lang_detect(const char *path, const char *head, size_t head_len)
{
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  for (size_t i = 0; i < sizeof by_name / sizeof by_name[0]; i++)
    if (strcmp(base, by_name[i].name) == 0)
      return by_name[i].lang;
  const char *dot = strrchr(base, '.');
  if (dot && dot != base)
    for (size_t i = 0; i < sizeof by_ext / sizeof by_ext[0]; i++)
      if (strcmp(dot + 1, by_ext[i].ext) == 0)
        return by_ext[i].lang;
  return from_shebang(head, head_len);
}
