/* A plan as a picture: its steps as boxes coloured by state and its dependencies as arrows, laid
 * out by Graphviz's dot and rendered as SVG, for the HTML report and the dashboard.
 *
 * Graphviz (libgvc, libcgraph) is loaded with dlopen on first use, as libgit2 is: only `tars
 * report` and `tars serve` draw, and every other start of tars must not pay for mapping it.  */
#ifndef TARS_GRAPH_H
#define TARS_GRAPH_H

#include <stddef.h>

#include "tars/error.h"

struct tars_graph_node
{
  const char *id;    /* unique; becomes the SVG element's id ("step-<id>") */
  const char *label; /* shown in the box (may be NULL: the id) */
  const char *state; /* a class name ("completed", "failed"...): colour and SVG class */
};

struct tars_graph_edge
{
  size_t from, to; /* indices of nodes: FROM must be done before TO */
};

/* Lay out the graph and render it as an SVG element (no XML prolog, so that it can be placed in
 * an HTML page as it is): *SVG is malloc'd and NUL-terminated.  Errors: Graphviz missing (naming
 * the Debian package), or a layout failure.  */
int tars_graph_svg(const struct tars_graph_node *nodes, size_t n_nodes,
                   const struct tars_graph_edge *edges, size_t n_edges, char **svg,
                   struct tars_error *err);

/* The DOT text tars_graph_svg lays out (malloc'd, or NULL when out of memory).  */
char *tars_graph_dot(const struct tars_graph_node *nodes, size_t n_nodes,
                     const struct tars_graph_edge *edges, size_t n_edges);

#endif
