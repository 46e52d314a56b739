/* libFuzzer target for the changeset manifest reader: tars_changeset_parse on untrusted bytes (a
 * manifest.json a sandbox or a worker wrote).
 *
 * Property: a manifest that parses is written back by tars_changeset_to_json as a manifest that
 * parses again, to the same JSON.  */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tars/changes.h"
#include "tars/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  cleanup_changeset struct tars_changeset cs = {0};
  cleanup_changeset struct tars_changeset again = {0};
  struct tars_error err;

  if (tars_changeset_parse((const char *)data, size, &cs, &err) < 0)
    {
      if (cs.entries != NULL || cs.n_entries != 0)
        abort(); /* documented: left empty on failure */
      return 0;
    }
  cleanup_free char *text = tars_changeset_to_json(&cs, &err);
  if (text == NULL)
    abort();
  if (tars_changeset_parse(text, strlen(text), &again, &err) < 0)
    abort();
  cleanup_free char *text2 = tars_changeset_to_json(&again, &err);
  if (text2 == NULL || strcmp(text, text2) != 0)
    abort();
  return 0;
}
