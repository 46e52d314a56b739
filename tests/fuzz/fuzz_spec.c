/* libFuzzer target for the sandbox spec reader: tars_spec_load_json, tars_spec_validate and
 * tars_parse_size on untrusted bytes (a --spec file).
 *
 * Besides the sanitizers' findings it checks two properties: a spec that loads once loads again
 * when merged into the result (the merge frees what it replaces), and a spec that borrows its
 * fields is left exactly as it was when a load fails.  */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tars/cleanup.h"
#include "tars/sandbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *json = (const char *)data;
  struct tars_spec spec;
  struct tars_error err;

  tars_spec_init(&spec);
  if (tars_spec_load_json(&spec, json, size, &err) == 0)
    {
      (void)tars_spec_validate(&spec, &err);
      /* Merging the same keys again replaces every value it set: nothing may leak or be freed
       * twice, and what was accepted once must be accepted again.  */
      if (tars_spec_load_json(&spec, json, size, &err) < 0)
        abort();
    }
  tars_spec_free(&spec);

  /* A spec whose fields point at memory the caller keeps: the loader copies them first.  */
  static char arg0[] = "/bin/true", ws[] = "/nonexistent/ws", layer[] = "/nonexistent/layer",
              bind[] = "/nonexistent/bind";
  static char *argv[] = {arg0, NULL};
  tars_spec_init(&spec);
  spec.owned = false;
  spec.argv = argv;
  spec.workspace = ws;
  spec.layers[0] = layer;
  spec.n_layers = 1;
  spec.mounts[0] = (struct tars_mount){TARS_MOUNT_RO_BIND, bind, NULL, 0};
  spec.n_mounts = 1;
  if (tars_spec_load_json(&spec, json, size, &err) == 0)
    {
      if (!spec.owned)
        abort();
      tars_spec_free(&spec);
    }
  else if (spec.owned || spec.argv != argv || spec.workspace != ws || spec.layers[0] != layer ||
           spec.mounts[0].source != bind)
    abort();

  cleanup_free char *s = malloc(size + 1);
  if (s == NULL)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  uint64_t v;
  (void)tars_parse_size(s, &v, &err);
  return 0;
}
