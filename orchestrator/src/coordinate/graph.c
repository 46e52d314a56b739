/* Plans drawn with Graphviz (graph.h): DOT text built here, laid out and rendered to SVG by
 * libgvc, which is loaded with dlopen the first time a graph is drawn.  */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>

#include "coordinate/graph.h"
#include "tars/cleanup.h"

/* Fill colour and border per state; anything else is drawn as pending.  */
static const struct
{
  const char *state, *fill, *border;
} palette[] = {
    {"pending", "#ffffff", "#8a8f98"},    {"running", "#fff3c4", "#c99a06"},
    {"review", "#ffe0b2", "#e65100"},     {"completed", "#d6f5d6", "#2e7d32"},
    {"failed", "#ffd6d6", "#c62828"},     {"skipped", "#eeeeee", "#9e9e9e"},
    {"cancelled", "#e0e0e0", "#616161"},  {"rolledback", "#e8d8f5", "#6a1b9a"},
    {"unverified", "#fff0d0", "#a66a00"},
};

struct buf
{
  char *s;
  size_t len, cap;
  bool oom;
};

static void
put(struct buf *b, const char *s, size_t n)
{
  if (b->oom)
    return;
  if (b->len + n + 1 > b->cap)
    {
      size_t cap = b->cap ? b->cap * 2 : 1024;
      while (cap < b->len + n + 1)
        cap *= 2;
      char *p = realloc(b->s, cap);
      if (p == NULL)
        {
          b->oom = true;
          return;
        }
      b->s = p;
      b->cap = cap;
    }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
}

static void
puts_(struct buf *b, const char *s)
{
  put(b, s, strlen(s));
}

/* A DOT double-quoted string: quotes and backslashes escaped, control characters dropped (ids
 * and labels come from plan files).  */
static void
put_quoted(struct buf *b, const char *s)
{
  put(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p == '"' || *p == '\\')
      {
        char e[2] = {'\\', (char)*p};
        put(b, e, 2);
      }
    else if (*p >= 0x20 && *p != 0x7f)
      put(b, (const char *)p, 1);
  put(b, "\"", 1);
}

char *
tars_graph_dot(const struct tars_graph_node *nodes, size_t n_nodes,
               const struct tars_graph_edge *edges, size_t n_edges)
{
  struct buf b = {0};
  puts_(&b, "digraph plan {\n"
            "  rankdir=LR; bgcolor=\"transparent\"; nodesep=0.3; ranksep=0.5;\n"
            "  node [shape=box, style=\"rounded,filled\", fontname=\"sans-serif\", "
            "fontsize=11, penwidth=1.5];\n"
            "  edge [color=\"#8a8f98\", arrowsize=0.7];\n");
  for (size_t i = 0; i < n_nodes; i++)
    {
      const char *state = nodes[i].state ? nodes[i].state : "pending";
      size_t k = 0;
      for (size_t j = 0; j < sizeof palette / sizeof palette[0]; j++)
        if (strcmp(palette[j].state, state) == 0)
          k = j;
      char head[64];
      snprintf(head, sizeof head, "  n%zu [label=", i);
      puts_(&b, head);
      put_quoted(&b, nodes[i].label ? nodes[i].label : nodes[i].id);
      puts_(&b, ", id=");
      char id[512];
      snprintf(id, sizeof id, "step-%s", nodes[i].id);
      put_quoted(&b, id);
      puts_(&b, ", class=");
      put_quoted(&b, palette[k].state);
      puts_(&b, ", tooltip=");
      put_quoted(&b, nodes[i].id);
      char colours[96];
      snprintf(colours, sizeof colours, ", fillcolor=\"%s\", color=\"%s\"];\n", palette[k].fill,
               palette[k].border);
      puts_(&b, colours);
    }
  for (size_t i = 0; i < n_edges; i++)
    if (edges[i].from < n_nodes && edges[i].to < n_nodes)
      {
        char e[64];
        snprintf(e, sizeof e, "  n%zu -> n%zu;\n", edges[i].from, edges[i].to);
        puts_(&b, e);
      }
  puts_(&b, "}\n");
  if (b.oom)
    {
      free(b.s);
      return NULL;
    }
  return b.s;
}

/* ----- libgvc through dlopen ----- */

#define TARS_GV_FUNCTIONS(X)                                                                       \
  X(gvc, gvContext)                                                                                \
  X(gvc, gvLayout)                                                                                 \
  X(gvc, gvRenderData)                                                                             \
  X(gvc, gvFreeRenderData)                                                                         \
  X(gvc, gvFreeLayout)                                                                             \
  X(gvc, gvFreeContext)                                                                            \
  X(cgraph, agmemread)                                                                             \
  X(cgraph, agclose)

#define DECLARE_POINTER(lib, name) static typeof(name) *p_##name;
TARS_GV_FUNCTIONS(DECLARE_POINTER)
#undef DECLARE_POINTER

static void *gvc_handle, *cgraph_handle;

static int
load(struct tars_error *err)
{
  if (gvc_handle)
    return 0;
  dlerror();
  cgraph_handle = dlopen(TARS_LIBCGRAPH_SONAME, RTLD_NOW | RTLD_GLOBAL);
  gvc_handle = cgraph_handle ? dlopen(TARS_LIBGVC_SONAME, RTLD_NOW | RTLD_LOCAL) : NULL;
  if (gvc_handle == NULL)
    {
      const char *why = dlerror();
      if (cgraph_handle)
        dlclose(cgraph_handle);
      cgraph_handle = NULL;
      return tars_error_set(err, 0, "drawing the plan needs Graphviz (Debian's libgvc6): %s",
                            why ? why : "cannot load it");
    }
#define RESOLVE(lib, name)                                                                         \
  if ((p_##name = dlsym(lib##_handle, #name)) == NULL)                                             \
    {                                                                                              \
      dlclose(gvc_handle);                                                                         \
      dlclose(cgraph_handle);                                                                      \
      gvc_handle = cgraph_handle = NULL;                                                           \
      return tars_error_set(err, 0, "Graphviz: %s is missing from %s", #name, #lib);               \
    }
  TARS_GV_FUNCTIONS(RESOLVE)
#undef RESOLVE
  return 0;
}

int
tars_graph_svg(const struct tars_graph_node *nodes, size_t n_nodes,
               const struct tars_graph_edge *edges, size_t n_edges, char **svg,
               struct tars_error *err)
{
  *svg = NULL;
  cleanup_free char *dot = tars_graph_dot(nodes, n_nodes, edges, n_edges);
  if (dot == NULL)
    return tars_error_set(err, ENOMEM, "draw the plan");
  if (load(err) < 0)
    return -1;
  GVC_t *gvc = p_gvContext();
  if (gvc == NULL)
    return tars_error_set(err, 0, "Graphviz: cannot create a context");
  Agraph_t *g = p_agmemread(dot);
  int ret = -1;
  char *data = NULL;
  unsigned int len = 0;
  if (g == NULL)
    tars_error_set(err, 0, "Graphviz: cannot read the plan's graph");
  else if (p_gvLayout(gvc, g, "dot") != 0)
    tars_error_set(err, 0, "Graphviz: the dot layout failed (is libgvplugin_dot_layout there?)");
  else if (p_gvRenderData(gvc, g, "svg", &data, &len) != 0 || data == NULL)
    tars_error_set(err, 0, "Graphviz: rendering SVG failed");
  else
    {
      /* Inline SVG starts at its element: drop the XML declaration, the DOCTYPE and comments.  */
      const char *start = strstr(data, "<svg");
      *svg = strdup(start ? start : data);
      ret = *svg ? 0 : tars_error_set(err, ENOMEM, "draw the plan");
    }
  if (data)
    p_gvFreeRenderData(data);
  if (g)
    {
      p_gvFreeLayout(gvc, g);
      p_agclose(g);
    }
  p_gvFreeContext(gvc);
  return ret;
}
