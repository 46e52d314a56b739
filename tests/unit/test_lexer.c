/* The lexers of every language family (lexer.h): the comments they find, exactly, among decoys
 * in strings, raw strings, heredocs, template literals, regular expressions and URLs.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plan/lexer.h"

struct collected
{
  const char *text;
  char out[4096];
};

static void
on_span(void *arg, enum tars_span_kind kind, size_t start, size_t end)
{
  struct collected *c = arg;
  if (kind != TARS_SPAN_COMMENT)
    return;
  size_t n = strlen(c->out);
  snprintf(c->out + n, sizeof c->out - n, "%s%.*s", n ? "|" : "", (int)(end - start),
           c->text + start);
}

/* The comments of TEXT in LANG, joined by '|', must be EXPECTED.  */
static void
comments(enum tars_lex_lang lang, const char *text, const char *expected)
{
  struct collected c = {.text = text};
  tars_lex(lang, text, strlen(text), on_span, &c);
  if (strcmp(c.out, expected) != 0)
    fail_msg("%s: comments\n  got:      [%s]\n  expected: [%s]", tars_lang_info(lang)->name, c.out,
             expected);
}

static void
test_c_family_comments_skip_strings_chars_and_raw_strings(void **state)
{
  (void)state;
  comments(TARS_LEX_C,
           "/* one */ int a = 1; // two\n"
           "const char *s = \"/* not */ // no \\\" still\";\n"
           "char c = '\"'; // three\n"
           "#define X 1 \\\n"
           "// continued define\n"
           "// four \\\n"
           "still four\n",
           " one | two| three| continued define| four \\\nstill four");
  comments(TARS_LEX_CPP,
           "auto r = R\"x(/* no */ // no)\" )x\"; // yes\n"
           "int n = 1'000'000; // sep\n"
           "auto w = u8R\"(// no)\"; auto c = L'x'; // end\n",
           " yes| sep| end");
  comments(TARS_LEX_JAVA,
           "String t = \"\"\"\n  // no \\\"\"\"\n  \"\"\"; // yes\nchar q = '\\''; // q\n",
           " yes| q");
  comments(TARS_LEX_GO, "s := `// raw\n/* no */`\nr := '\"' // yes\n", " yes");
  comments(TARS_LEX_RUST,
           "/* outer /* inner */ still */\n"
           "let s = r##\"// no \"# still\"##; // yes\n"
           "fn f<'a>(x: &'a str) -> char { 'x' } // life\n"
           "let b = b\"// no\"; let c = '\\''; // end\n",
           " outer /* inner */ still | yes| life| end");
  comments(TARS_LEX_CSHARP,
           "var v = @\"C:\\ // no \"\" still\"; var r = \"\"\" // no \"\" \"\"\"; // yes\n"
           "var i = $\"{x} // no\"; // two\n",
           " yes| two");
  comments(TARS_LEX_KOTLIN,
           "val s = \"${ \"/* no */\" }\" // k\nval t = \"\"\"// no\"\"\" /* a /* b */ c */\n",
           " k| a /* b */ c ");
  comments(TARS_LEX_SWIFT, "let s = \"\\( \"// no\" )\" // sw\nlet r = #\"// no\"# // raw\n",
           " sw| raw");
  comments(TARS_LEX_CSS, "a { content: \"/* no */\"; } /* css */ b { x: url(//cdn/x.png); }\n",
           " css ");
  comments(TARS_LEX_OBJC, "NSString *s = @\"// no\"; // yes\n", " yes");
}

static void
test_javascript_template_holes_and_regular_expressions(void **state)
{
  (void)state;
  comments(TARS_LEX_JS,
           "const t = `a ${ /* hole */ b } // no`; // yes\n"
           "const r = /\\/\\/ no [/]/g; // rx\n"
           "x = a / b; // div /\n"
           "if (ok) return /#no/.test(s) // ret\n"
           "const u = 'http://x/TODO' // url\n",
           " hole | yes| rx| div /| ret| url");
  comments(TARS_LEX_TS, "const n: number = `${`${ 1 }`}` // nested\n", " nested");
}

static void
test_python_comments_skip_every_kind_of_string(void **state)
{
  (void)state;
  comments(TARS_LEX_PYTHON,
           "s = \"# no\"  # yes\n"
           "t = '''\n# no\n'''\n"
           "u = rb'\\\\' # two\n"
           "v = f\"{x!r} # no\" \\\n"
           "    # three\n",
           " yes| two| three");
}

static void
test_shell_comments_skip_strings_heredocs_and_expansions(void **state)
{
  (void)state;
  comments(TARS_LEX_SHELL,
           "#!/bin/sh\n"
           "echo \"# no $(echo '#no' # in-subst\n"
           ")\" # after\n"
           "x=${#y} # len\n"
           "echo a#b $'# no \\' still' # ansi\n"
           "cat <<EOF\n"
           "# no heredoc\n"
           "EOF\n"
           "cat <<-'END' # on-line\n"
           "\t# no\n"
           "\tEND\n"
           "echo $(( 1 << 2 )) # arith\n",
           "!/bin/sh| in-subst| after| len| ansi| on-line| arith");
}

static void
test_ruby_and_perl_comments_skip_quote_operators_heredocs_and_pod(void **state)
{
  (void)state;
  comments(TARS_LEX_RUBY,
           "s = \"#{x} # no\" # yes\n"
           "t = <<~EOS\n"
           "  # no\n"
           "EOS\n"
           "r = %q(# no (nested)) # two\n"
           "m = x =~ /#no/ # three\n"
           "=begin\n"
           "block\n"
           "=end\n"
           "__END__\n"
           "# data\n",
           " yes| two| three|\nblock");
  comments(TARS_LEX_PERL,
           "my $n = $#a; # yes\n"
           "my $s = q{# no}; # two\n"
           "$x =~ s/#a/#b/g; # three\n"
           "my %h = (y => 1); # four\n"
           "print <<\"EOT\";\n"
           "# no\n"
           "EOT\n"
           "=pod\n"
           "doc\n"
           "=cut\n"
           "# five\n"
           "__DATA__\n"
           "# no\n",
           " yes| two| three| four|=pod\ndoc\n| five");
}

static void
test_configuration_languages_yaml_toml_cmake_make(void **state)
{
  (void)state;
  comments(TARS_LEX_YAML,
           "key: value # yes\n"
           "url: http://x/#no\n"
           "q: 'it''s # no' # two\n"
           "d: \"a \\\" # no\"\n"
           "block: |\n"
           "  # no\n"
           "  text\n"
           "after: 1 # three\n"
           "# four\n",
           " yes| two| three| four");
  comments(TARS_LEX_TOML, "a = \"# no\" # yes\nb = '''\n# no\n''' # two\nc = 'C:\\' # three\n",
           " yes| two| three");
  comments(TARS_LEX_CMAKE, "#[[ block ]]\nset(X \"# no\") # yes\nmessage([=[ # no ]=]) # two\n",
           " block | yes| two");
  comments(TARS_LEX_MAKE, "# top\nX = a\\#b # yes\nall:\n\techo \"# no\" # recipe\n",
           " top| yes| recipe");
}

static void
test_sql_lua_and_haskell_comments(void **state)
{
  (void)state;
  comments(TARS_LEX_SQL,
           "SELECT '-- no''s', \"x--y\" -- yes\n"
           "/* a /* nested */ b */\n"
           "$$ -- no $$; $f$ -- no $f$; E'\\' -- no' -- two\n",
           " yes| a /* nested */ b | two");
  comments(TARS_LEX_LUA,
           "local s = \"-- no\" -- yes\n"
           "--[==[ block ]] still ]==]\n"
           "local t = [[ -- no ]] -- two\n",
           " yes| block ]] still | two");
  comments(TARS_LEX_HASKELL,
           "x = a --> b -- yes\n"
           "{- outer {- inner -} -}\n"
           "s = \"-- no\"\n"
           "y' = 'a' -- two\n",
           " yes| outer {- inner -} | two");
}

static void
test_markup_comments_and_what_markup_embeds(void **state)
{
  (void)state;
  comments(TARS_LEX_HTML,
           "<!-- yes -->\n"
           "<a title=\"<!-- no -->\">x</a>\n"
           "<script>var s = \"<!-- no -->\"; // js\n"
           "</script>\n"
           "<style>/* css */</style>\n",
           " yes | js| css ");
  comments(TARS_LEX_XML, "<?xml version=\"1.0\"?><!-- x --><![CDATA[<!-- no -->]]>", " x ");
  comments(TARS_LEX_MARKDOWN,
           "Text `<!-- no -->` and `` a ` b ``\n"
           "<!-- yes -->\n"
           "```html\n"
           "<!-- no -->\n"
           "```\n"
           "an ` alone <!-- two -->\n",
           " yes | two ");
}

static void
test_unterminated_literals_end_at_the_end_of_the_text(void **state)
{
  (void)state;
  comments(TARS_LEX_C, "/* never closed", " never closed");
  comments(TARS_LEX_C, "\"never closed\n// yes", " yes");
  comments(TARS_LEX_RUST, "/* a /* b */", " a /* b */");
  comments(TARS_LEX_SHELL, "cat <<EOF\n# no\n", "");
  comments(TARS_LEX_PYTHON, "'''\n# no", "");
  comments(TARS_LEX_JS, "`${", "");
  comments(TARS_LEX_LUA, "--[[ open", " open");
  comments(TARS_LEX_HTML, "<script>// js", " js");
}

static void
test_languages_are_known_by_name_extension_and_interpreter(void **state)
{
  (void)state;
  assert_int_equal(tars_lang_detect("src/a.c", "", 0), TARS_LEX_C);
  assert_int_equal(tars_lang_detect("a/b/CMakeLists.txt", "", 0), TARS_LEX_CMAKE);
  assert_int_equal(tars_lang_detect("Makefile", "", 0), TARS_LEX_MAKE);
  assert_int_equal(tars_lang_detect("x.tsx", "", 0), TARS_LEX_TS);
  assert_int_equal(tars_lang_detect("README", "", 0), TARS_LEX_UNKNOWN);
  static const char py[] = "#!/usr/bin/env -S python3 -u\n";
  assert_int_equal(tars_lang_detect("tool", py, sizeof py - 1), TARS_LEX_PYTHON);
  static const char sh[] = "#!/bin/bash\n";
  assert_int_equal(tars_lang_detect("run", sh, sizeof sh - 1), TARS_LEX_SHELL);
  static const char shfmt[] = "#!/usr/bin/shfmt\n";
  assert_int_equal(tars_lang_detect("x", shfmt, sizeof shfmt - 1), TARS_LEX_UNKNOWN);
  assert_string_equal(tars_lang_info(TARS_LEX_CSHARP)->name, "csharp");
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_c_family_comments_skip_strings_chars_and_raw_strings),
      cmocka_unit_test(test_javascript_template_holes_and_regular_expressions),
      cmocka_unit_test(test_python_comments_skip_every_kind_of_string),
      cmocka_unit_test(test_shell_comments_skip_strings_heredocs_and_expansions),
      cmocka_unit_test(test_ruby_and_perl_comments_skip_quote_operators_heredocs_and_pod),
      cmocka_unit_test(test_configuration_languages_yaml_toml_cmake_make),
      cmocka_unit_test(test_sql_lua_and_haskell_comments),
      cmocka_unit_test(test_markup_comments_and_what_markup_embeds),
      cmocka_unit_test(test_unterminated_literals_end_at_the_end_of_the_text),
      cmocka_unit_test(test_languages_are_known_by_name_extension_and_interpreter),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
