/* Plans drawn with Graphviz: the DOT text escapes what a plan file may hold, and the SVG is an
 * element that can be placed in a page, with one box per step carrying its id and state.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "coordinate/graph.h"

static const struct tars_graph_node nodes[] = {
    {"fmt", "Format the sources", "completed"},
    {"fix-\"quote\"", "a \"quoted\" \\ label\nwith a newline", "failed"},
    {"docs", NULL, "skipped"},
    {"odd", "state unknown", "no-such-state"},
};
static const struct tars_graph_edge edges[] = {{0, 1}, {1, 2}, {0, 3}, {7, 0}};

static void
dot_escapes_labels_and_ids(void **state)
{
  char *dot = tars_graph_dot(nodes, 4, edges, 4);
  assert_non_null(dot);
  assert_non_null(strstr(dot, "label=\"a \\\"quoted\\\" \\\\ labelwith a newline\""));
  assert_non_null(strstr(dot, "id=\"step-fix-\\\"quote\\\"\""));
  assert_non_null(strstr(dot, "label=\"docs\""));
  assert_non_null(strstr(dot, "n0 -> n1;"));
  assert_non_null(strstr(dot, "n1 -> n2;"));
  /* An edge naming no node is left out; an unknown state is drawn as pending.  */
  assert_null(strstr(dot, "n7"));
  assert_non_null(strstr(dot, "class=\"pending\""));
  free(dot);
}

static void
svg_is_an_element_with_a_box_per_step(void **state)
{
  struct tars_error err = {0};
  char *svg = NULL;
  if (tars_graph_svg(nodes, 4, edges, 4, &svg, &err) < 0)
    fail_msg("%s", err.msg);
  assert_true(strncmp(svg, "<svg", 4) == 0);
  assert_null(strstr(svg, "<?xml"));
  assert_null(strstr(svg, "<!DOCTYPE"));
  /* Graphviz writes '-' as a character reference, which a browser reads back as '-'.  */
  assert_non_null(strstr(svg, "id=\"step&#45;fmt\""));
  assert_non_null(strstr(svg, "class=\"node completed\""));
  assert_non_null(strstr(svg, "class=\"node failed\""));
  assert_non_null(strstr(svg, "Format the sources"));
  /* Three drawn arrows between the four boxes.  */
  size_t edges_drawn = 0;
  for (const char *p = svg; (p = strstr(p, "class=\"edge\"")) != NULL; p++)
    edges_drawn++;
  assert_int_equal(edges_drawn, 3);
  free(svg);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(dot_escapes_labels_and_ids),
      cmocka_unit_test(svg_is_an_element_with_a_box_per_step),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
