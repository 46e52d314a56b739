#include "model/ladder.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tars/cleanup.h"

/* ----- Unicode punctuation ----- */

/* What models write where code has ASCII: typographic quotes, dashes and minus signs, the
 * ellipsis, and the spaces a word processor or a web page leaves (no-break, thin, zero-width).  */
struct fold
{
  unsigned cp;
  const char *ascii;
};

static const struct fold folds[] = {
    {0x00a0, " "},  {0x2000, " "},  {0x2001, " "},  {0x2002, " "},  {0x2003, " "},  {0x2004, " "},
    {0x2005, " "},  {0x2006, " "},  {0x2007, " "},  {0x2008, " "},  {0x2009, " "},  {0x200a, " "},
    {0x202f, " "},  {0x205f, " "},  {0x3000, " "},  {0x200b, ""},   {0x2060, ""},   {0xfeff, ""},
    {0x2010, "-"},  {0x2011, "-"},  {0x2012, "-"},  {0x2013, "-"},  {0x2014, "-"},  {0x2015, "-"},
    {0x2212, "-"},  {0x2018, "'"},  {0x2019, "'"},  {0x201a, "'"},  {0x201b, "'"},  {0x2032, "'"},
    {0x201c, "\""}, {0x201d, "\""}, {0x201e, "\""}, {0x201f, "\""}, {0x2033, "\""}, {0x2026, "..."},
};
#define N_FOLDS (sizeof folds / sizeof *folds)
_Static_assert(N_FOLDS <= 64, "fold masks are 64 bits");

/* The index in folds of the character at S (LEN bytes left), its length in *N; -1 when it is
 * not one of them.  */
static int
fold_at(const unsigned char *s, size_t len, size_t *n)
{
  unsigned cp;
  if (len >= 2 && s[0] >= 0xc2 && s[0] <= 0xdf && (s[1] & 0xc0) == 0x80)
    {
      cp = ((unsigned)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
      *n = 2;
    }
  else if (len >= 3 && (s[0] & 0xf0) == 0xe0 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80)
    {
      cp = ((unsigned)(s[0] & 0x0f) << 12) | ((unsigned)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
      *n = 3;
    }
  else
    return -1;
  for (size_t i = 0; i < N_FOLDS; i++)
    if (folds[i].cp == cp)
      return (int)i;
  return -1;
}

/* Copy S into OUT folding the characters whose bit is set in MASK.  */
static size_t
fold_masked(const char *s, size_t len, uint64_t mask, char *out)
{
  const unsigned char *u = (const unsigned char *)s;
  size_t o = 0;
  for (size_t i = 0; i < len;)
    {
      size_t n;
      int f = u[i] >= 0xc2 ? fold_at(u + i, len - i, &n) : -1;
      if (f >= 0 && (mask >> f & 1))
        {
          size_t k = strlen(folds[f].ascii);
          memcpy(out + o, folds[f].ascii, k);
          o += k;
          i += n;
        }
      else
        out[o++] = s[i++];
    }
  return o;
}

size_t
tars_fold_punctuation(const char *s, size_t len, char *out)
{
  return fold_masked(s, len, UINT64_MAX, out);
}

/* Which of the characters of folds S holds.  */
static uint64_t
fold_mask(const char *s, size_t len)
{
  const unsigned char *u = (const unsigned char *)s;
  uint64_t m = 0;
  for (size_t i = 0; i < len;)
    {
      size_t n;
      int f = u[i] >= 0xc2 ? fold_at(u + i, len - i, &n) : -1;
      if (f >= 0)
        {
          m |= (uint64_t)1 << f;
          i += n;
        }
      else
        i++;
    }
  return m;
}

/* ----- lines, normalised for a rung ----- */

struct nline
{
  const char *s;
  size_t len;
  bool blank;
};

static bool
is_space(char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static size_t
indent_len(const char *s, size_t len)
{
  size_t i = 0;
  while (i < len && (s[i] == ' ' || s[i] == '\t'))
    i++;
  return i;
}

static size_t
rstrip_len(const char *s, size_t len)
{
  while (len > 0 && is_space(s[len - 1]))
    len--;
  return len;
}

/* S as rung R compares it: folded, then stripped, as the rung allows.  FOLDED has room for LEN
 * more bytes and is advanced past what folding wrote.  */
static struct nline
normalise(const char *s, size_t len, enum tars_edit_rung r, char **folded)
{
  if (r >= TARS_RUNG_PUNCTUATION)
    {
      size_t k = tars_fold_punctuation(s, len, *folded);
      s = *folded;
      len = k;
      *folded += k;
    }
  size_t stripped = rstrip_len(s, len);
  struct nline n = {s, len, stripped == 0};
  if (r >= TARS_RUNG_TRAILING_SPACE)
    n.len = stripped;
  if (r >= TARS_RUNG_INDENT)
    {
      size_t i = indent_len(n.s, n.len);
      n.s += i;
      n.len -= i;
    }
  return n;
}

static bool
nline_eq(const struct nline *a, const struct nline *b)
{
  return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

/* A line that says something: one that only closes a block ("}", "end;") is everywhere and
 * proves nothing about where an edit goes.  */
static bool
significant(const char *s, size_t len)
{
  size_t alnum = 0;
  for (size_t i = 0; i < len; i++)
    if (isalnum((unsigned char)s[i]))
      alnum++;
  return alnum >= 3;
}

/* ----- the difference of two sections ----- */

static bool
line_eq(const struct tars_line *a, const struct tars_line *b)
{
  return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

/* Above this many cells the longest common subsequence is not computed: the middle of the two
 * sections is taken as removed and added whole, which is still a correct edit.  */
#define LCS_MAX_CELLS (1u << 22)

int
tars_ladder_diff(const struct tars_lines *a, const struct tars_lines *b,
                 struct tars_ladder_op **ops, size_t *n, struct tars_error *err)
{
  *ops = NULL;
  *n = 0;
  size_t pre = 0, suf = 0;
  while (pre < a->n && pre < b->n && line_eq(&a->v[pre], &b->v[pre]))
    pre++;
  while (suf < a->n - pre && suf < b->n - pre &&
         line_eq(&a->v[a->n - 1 - suf], &b->v[b->n - 1 - suf]))
    suf++;
  size_t ma = a->n - pre - suf, mb = b->n - pre - suf;
  cleanup_free struct tars_ladder_op *v = calloc(a->n + b->n + 1, sizeof *v);
  if (v == NULL)
    return tars_error_set(err, ENOMEM, "cannot diff the sections of an edit");
  size_t k = 0;
  for (size_t i = 0; i < pre; i++)
    v[k++] = (struct tars_ladder_op){' ', a->v[i].s, a->v[i].len};

  cleanup_free uint32_t *t = NULL;
  if (ma > 0 && mb > 0 && (ma + 1) * (mb + 1) <= LCS_MAX_CELLS)
    t = calloc((ma + 1) * (mb + 1), sizeof *t);
  if (t != NULL)
    {
      const struct tars_line *x = a->v + pre, *y = b->v + pre;
      size_t w = mb + 1;
      for (size_t i = ma; i-- > 0;)
        for (size_t j = mb; j-- > 0;)
          t[i * w + j] = line_eq(&x[i], &y[j])
                             ? t[(i + 1) * w + j + 1] + 1
                             : (t[(i + 1) * w + j] >= t[i * w + j + 1] ? t[(i + 1) * w + j]
                                                                       : t[i * w + j + 1]);
      size_t i = 0, j = 0;
      while (i < ma || j < mb)
        {
          if (i < ma && j < mb && line_eq(&x[i], &y[j]))
            {
              v[k++] = (struct tars_ladder_op){' ', x[i].s, x[i].len};
              i++, j++;
            }
          else if (i < ma && (j == mb || t[(i + 1) * w + j] >= t[i * w + j + 1]))
            {
              v[k++] = (struct tars_ladder_op){'-', x[i].s, x[i].len};
              i++;
            }
          else
            {
              v[k++] = (struct tars_ladder_op){'+', y[j].s, y[j].len};
              j++;
            }
        }
    }
  else
    {
      for (size_t i = 0; i < ma; i++)
        v[k++] = (struct tars_ladder_op){'-', a->v[pre + i].s, a->v[pre + i].len};
      for (size_t j = 0; j < mb; j++)
        v[k++] = (struct tars_ladder_op){'+', b->v[pre + j].s, b->v[pre + j].len};
    }
  for (size_t i = a->n - suf; i < a->n; i++)
    v[k++] = (struct tars_ladder_op){' ', a->v[i].s, a->v[i].len};
  *ops = steal_pointer(&v);
  *n = k;
  return 0;
}

/* ----- re-indentation ----- */

/* How the indentation of the search text maps to the file's, learnt from the lines matched:
 * the file's is the search text's with a prefix added, or with one removed, or the same number
 * of levels shifted by a constant, each side in its own unit (a tab, or N spaces).  */
enum plan_kind
{
  PLAN_SAME,
  PLAN_ADD,
  PLAN_REMOVE,
  PLAN_LEVELS,
};

struct plan
{
  enum plan_kind kind;
  const char *p; /* ADD, REMOVE */
  size_t plen;
  char s_ch, f_ch; /* LEVELS */
  size_t s_unit, f_unit;
  long shift;
};

static size_t
gcd(size_t a, size_t b)
{
  while (b)
    {
      size_t t = a % b;
      a = b;
      b = t;
    }
  return a;
}

/* The character S's indentation is made of, '\0' when it has none, -1 when it mixes two.  */
static int
indent_char(const char *s, size_t n)
{
  if (n == 0)
    return 0;
  for (size_t i = 1; i < n; i++)
    if (s[i] != s[0])
      return -1;
  return (unsigned char)s[0];
}

struct ladder
{
  const struct tars_lines *file;
  struct tars_ladder_op *ops; /* a copy: the extension turns added lines into context */
  size_t n_ops;
  enum tars_edit_rung rung;
  struct nline *fn, *on; /* file and op lines as the rung compares them */
  char *fold_file, *fold_ops;
  size_t *fnb, n_fnb; /* the file's non-blank lines */
  size_t *sl, n_sl;   /* the search lines (op indices) of the range matched */
  size_t *snb, n_snb; /* positions in sl of the non-blank ones */
  long *align;        /* per op: the file line it is matched with, or -1 */
  long *best;
  size_t *pos; /* per non-blank search line: the non-blank file line (in fnb) it matches */
  struct plan best_plan;
};

/* Find the indentation plan of the pairs ALIGN makes among the ops [K0, K1).  */
static bool
plan_find(const struct ladder *L, const long *align, size_t k0, size_t k1, struct plan *pl)
{
  memset(pl, 0, sizeof *pl);
  bool have = false, add = true, rem = true, lev = true;
  const char *s0 = NULL, *f0 = NULL;
  size_t s0n = 0, f0n = 0;
  int s_ch = 0, f_ch = 0;
  size_t s_unit = 0, f_unit = 0;

  /* Units from all the lines the model wrote, added ones too: more samples, better unit.  */
  for (size_t k = k0; k < k1; k++)
    {
      const struct tars_ladder_op *o = &L->ops[k];
      if (tars_line_blank(o->s, o->len))
        continue;
      size_t n = indent_len(o->s, o->len);
      int c = indent_char(o->s, n);
      if (c < 0 || (c && s_ch && c != s_ch))
        lev = false;
      if (c)
        s_ch = c;
      s_unit = gcd(s_unit, n);
    }
  for (size_t k = k0; k < k1; k++)
    {
      if (align[k] < 0 || L->ops[k].op == '+')
        continue;
      const struct tars_ladder_op *o = &L->ops[k];
      const struct tars_line *f = &L->file->v[align[k]];
      if (tars_line_blank(o->s, o->len) || tars_line_blank(f->s, f->len))
        continue;
      size_t sn = indent_len(o->s, o->len), fn = indent_len(f->s, f->len);
      int c = indent_char(f->s, fn);
      if (c < 0 || (c && f_ch && c != f_ch))
        lev = false;
      if (c)
        f_ch = c;
      f_unit = gcd(f_unit, fn);
      if (!have)
        {
          have = true;
          s0 = o->s, s0n = sn, f0 = f->s, f0n = fn;
          add = f0n >= s0n && memcmp(f0 + f0n - s0n, s0, s0n) == 0;
          rem = s0n >= f0n && memcmp(s0 + s0n - f0n, f0, f0n) == 0;
        }
      if (add)
        {
          size_t p = f0n - s0n;
          add = fn == p + sn && memcmp(f->s, f0, p) == 0 && memcmp(f->s + p, o->s, sn) == 0;
        }
      if (rem)
        {
          size_t p = s0n - f0n;
          rem = sn == p + fn && memcmp(o->s, s0, p) == 0 && memcmp(o->s + p, f->s, fn) == 0;
        }
    }
  if (!have)
    return true; /* nothing but blank lines: nothing to re-indent by */
  if (add)
    {
      pl->kind = f0n == s0n ? PLAN_SAME : PLAN_ADD;
      pl->p = f0;
      pl->plen = f0n - s0n;
      return true;
    }
  if (rem)
    {
      pl->kind = PLAN_REMOVE;
      pl->p = s0;
      pl->plen = s0n - f0n;
      return true;
    }
  if (!lev || s_unit == 0 || f_unit == 0)
    return false;
  long shift = 0;
  bool first = true;
  for (size_t k = k0; k < k1; k++)
    {
      if (align[k] < 0 || L->ops[k].op == '+')
        continue;
      const struct tars_ladder_op *o = &L->ops[k];
      const struct tars_line *f = &L->file->v[align[k]];
      if (tars_line_blank(o->s, o->len) || tars_line_blank(f->s, f->len))
        continue;
      size_t sn = indent_len(o->s, o->len), fn = indent_len(f->s, f->len);
      long d = (long)(fn / f_unit) - (long)(sn / s_unit);
      if (first)
        shift = d, first = false;
      else if (d != shift)
        return false;
    }
  pl->kind = PLAN_LEVELS;
  pl->s_ch = (char)s_ch, pl->f_ch = (char)f_ch;
  pl->s_unit = s_unit, pl->f_unit = f_unit;
  pl->shift = shift;
  return true;
}

/* Write the indentation X (N bytes) of an added line as the plan maps it.  */
static void
put_indent(struct tars_buf *b, const struct plan *pl, const char *x, size_t n)
{
  switch (pl->kind)
    {
    case PLAN_SAME:
      tars_buf_add(b, x, n);
      return;
    case PLAN_ADD:
      tars_buf_add(b, pl->p, pl->plen);
      tars_buf_add(b, x, n);
      return;
    case PLAN_REMOVE:
      {
        size_t i = 0;
        while (i < n && i < pl->plen && x[i] == pl->p[i])
          i++;
        tars_buf_add(b, x + i, n - i);
        return;
      }
    case PLAN_LEVELS:
      {
        size_t run = 0;
        while (run < n && x[run] == pl->s_ch)
          run++;
        long level = (long)(run / pl->s_unit) + pl->shift;
        size_t used = run - run % pl->s_unit;
        for (long i = 0; i < level * (long)pl->f_unit; i++)
          tars_buf_add(b, &pl->f_ch, 1);
        tars_buf_add(b, x + used, n - used);
        return;
      }
    }
}

/* ----- matching ----- */

static void
region_of(const struct ladder *L, const long *align, size_t *lo, size_t *hi)
{
  long a = -1, z = -1;
  for (size_t k = 0; k < L->n_ops; k++)
    if (align[k] >= 0)
      {
        if (a < 0)
          a = align[k];
        z = align[k];
      }
  *lo = a < 0 ? 0 : (size_t)a;
  *hi = z < 0 ? 0 : (size_t)z + 1;
}

/* Align the search lines with the file, when blank lines are ignored: the non-blank search line
 * T pairs with the non-blank file line POS[T] (an index in fnb), and the blank lines of the
 * search text pair with the file's blank lines between the same two lines (or before the first,
 * after the last) as far as both have them.  */
static void
align_at(struct ladder *L, const size_t *pos)
{
  size_t m = L->n_snb;
  for (size_t k = 0; k < L->n_ops; k++)
    L->align[k] = -1;
  for (size_t t = 0; t < m; t++)
    L->align[L->sl[L->snb[t]]] = (long)L->fnb[pos[t]];
  for (size_t t = 0; t + 1 < m; t++)
    {
      if (pos[t + 1] != pos[t] + 1)
        continue; /* the drift's gap: its lines are the file's */
      size_t a = L->snb[t], b = L->snb[t + 1];
      size_t x = L->fnb[pos[t]], y = L->fnb[pos[t + 1]];
      for (size_t u = 0; u + 1 < b - a && u + 1 < y - x; u++)
        L->align[L->sl[a + 1 + u]] = (long)(x + 1 + u);
    }
  long j = (long)L->fnb[pos[0]] - 1;
  for (size_t at = L->snb[0]; at-- > 0 && j >= 0 && L->fn[j].blank; j--)
    L->align[L->sl[at]] = j;
  size_t jj = L->fnb[pos[m - 1]] + 1;
  for (size_t at = L->snb[m - 1] + 1; at < L->n_sl && jj < L->file->n && L->fn[jj].blank;
       at++, jj++)
    L->align[L->sl[at]] = (long)jj;
}

/* Whether the non-blank search lines from T on match the file's non-blank lines from P on.  */
static bool
run_matches(const struct ladder *L, size_t t, size_t t_end, size_t p)
{
  for (; t < t_end; t++, p++)
    if (!nline_eq(&L->fn[L->fnb[p]], &L->on[L->sl[L->snb[t]]]))
      return false;
  return true;
}

/* DRIFT splits the search text in two before its non-blank line J: the lines on either side of
 * the split must be context on at least one side, and no line may be added there (it would have
 * two places, one on either side of the gap).  A split between two removed lines would leave
 * lines the edit never saw inside what it removes.  */
static bool
split_allowed(const struct ladder *L, size_t j)
{
  size_t a = L->sl[L->snb[j - 1]], b = L->sl[L->snb[j]];
  if (L->ops[a].op != ' ' && L->ops[b].op != ' ')
    return false;
  for (size_t k = a + 1; k < b; k++)
    if (L->ops[k].op == '+')
      return false;
  return true;
}

static void
record(struct ladder *L, size_t count, const struct plan *pl, struct tars_ladder_result *res)
{
  size_t lo, hi;
  region_of(L, L->align, &lo, &hi);
  if (count < TARS_LADDER_MAX_PLACES)
    {
      res->place_lo[count] = lo;
      res->place_hi[count] = hi;
    }
  if (count == 0)
    {
      memcpy(L->best, L->align, L->n_ops * sizeof *L->align);
      L->best_plan = *pl;
    }
}

/* How many places the search lines match at the current rung; the first is kept in L->best.  */
static size_t
match(struct ladder *L, struct tars_ladder_result *res)
{
  size_t count = 0, n = L->file->n;
  struct plan same = {.kind = PLAN_SAME};
  if (L->rung < TARS_RUNG_BLANK_LINES)
    {
      size_t m = L->n_sl;
      if (m == 0 || m > n)
        return 0;
      for (size_t p = 0; p + m <= n; p++)
        {
          size_t i = 0;
          while (i < m && nline_eq(&L->fn[p + i], &L->on[L->sl[i]]))
            i++;
          if (i < m)
            continue;
          for (size_t k = 0; k < L->n_ops; k++)
            L->align[k] = -1;
          for (i = 0; i < m; i++)
            L->align[L->sl[i]] = (long)(p + i);
          record(L, count++, &same, res);
        }
      return count;
    }
  size_t m = L->n_snb;
  if (m == 0 || m > L->n_fnb)
    return 0;
  if (L->rung < TARS_RUNG_DRIFT)
    {
      for (size_t q = 0; q + m <= L->n_fnb; q++)
        {
          if (!run_matches(L, 0, m, q))
            continue;
          for (size_t t = 0; t < m; t++)
            L->pos[t] = q + t;
          align_at(L, L->pos);
          struct plan pl = same;
          if (L->rung >= TARS_RUNG_INDENT && !plan_find(L, L->align, 0, L->n_ops, &pl))
            continue;
          record(L, count++, &pl, res);
        }
      return count;
    }
  /* DRIFT: two pieces, the second 1 to TARS_EDIT_DRIFT_LINES non-blank lines after where the
   * first ends.  */
  for (size_t j = 1; j < m; j++)
    {
      if (!split_allowed(L, j))
        continue;
      for (size_t q = 0; q + m < L->n_fnb; q++)
        {
          if (!run_matches(L, 0, j, q))
            continue;
          for (size_t g = 1; g <= TARS_EDIT_DRIFT_LINES && q + m + g <= L->n_fnb; g++)
            {
              if (!run_matches(L, j, m, q + j + g))
                continue;
              for (size_t t = 0; t < m; t++)
                L->pos[t] = q + t + (t >= j ? g : 0);
              align_at(L, L->pos);
              struct plan pl = same;
              if (!plan_find(L, L->align, 0, L->n_ops, &pl))
                continue;
              record(L, count++, &pl, res);
            }
        }
    }
  return count;
}

/* Normalise the file and the ops for the rung, and list the search lines.  */
static void
prepare(struct ladder *L, enum tars_edit_rung r)
{
  L->rung = r;
  char *ff = L->fold_file, *fo = L->fold_ops;
  L->n_fnb = 0;
  for (size_t i = 0; i < L->file->n; i++)
    {
      L->fn[i] = normalise(L->file->v[i].s, L->file->v[i].len, r, &ff);
      if (!L->fn[i].blank)
        L->fnb[L->n_fnb++] = i;
    }
  for (size_t k = 0; k < L->n_ops; k++)
    L->on[k] = normalise(L->ops[k].s, L->ops[k].len, r, &fo);
  L->n_sl = L->n_snb = 0;
  for (size_t k = 0; k < L->n_ops; k++)
    if (L->ops[k].op != '+')
      {
        if (!L->on[k].blank)
          L->snb[L->n_snb++] = L->n_sl;
        L->sl[L->n_sl++] = k;
      }
}

/* The search text stops short when its replacement starts or ends with lines the file has just
 * beyond the region matched, unchanged and in order: the model quoted too little, not meant to
 * write those lines a second time.  The search text is taken to include them (the replacement
 * rewrites them as they are).  Only exact neighbours count, and only lines that say something:
 * an added line that merely resembles the next one (a new case of a switch) is an insertion.  */
static void
extend_cut(struct ladder *L, size_t *lo, size_t *hi, struct tars_ladder_result *res)
{
  size_t n = L->file->n, first = L->n_ops, last = 0;
  for (size_t k = 0; k < L->n_ops; k++)
    if (L->ops[k].op != '+')
      {
        if (first == L->n_ops)
          first = k;
        last = k;
      }
  long *align = L->best;

  size_t run = L->n_ops - last - 1, r0 = last + 1;
  for (size_t t = run; t >= 1; t--)
    {
      if (*hi + t > n)
        continue;
      bool eq = true, sig = false;
      for (size_t u = 0; u < t && eq; u++)
        {
          size_t k = r0 + run - t + u;
          eq = nline_eq(&L->on[k], &L->fn[*hi + u]);
          sig |= significant(L->ops[k].s, L->ops[k].len);
        }
      if (eq && sig)
        {
          for (size_t u = 0; u < t; u++)
            {
              size_t k = r0 + run - t + u;
              L->ops[k].op = ' ';
              align[k] = (long)(*hi + u);
            }
          *hi += t;
          res->extended = true;
          break;
        }
    }

  run = first;
  for (size_t t = run; t >= 1; t--)
    {
      if (*lo < t)
        continue;
      bool eq = true, sig = false;
      for (size_t u = 0; u < t && eq; u++)
        {
          eq = nline_eq(&L->on[u], &L->fn[*lo - t + u]);
          sig |= significant(L->ops[u].s, L->ops[u].len);
        }
      if (eq && sig)
        {
          for (size_t u = 0; u < t; u++)
            {
              L->ops[u].op = ' ';
              align[u] = (long)(*lo - t + u);
            }
          *lo -= t;
          res->extended = true;
          break;
        }
    }
}

/* ----- writing the result ----- */

struct writer
{
  struct tars_buf b;
  enum tars_eol eol;
  bool pending; /* the last line written had no line ending */
};

static void
put_file_line(struct writer *w, const struct tars_line *l)
{
  if (w->pending)
    tars_buf_add_eol(&w->b, w->eol);
  tars_buf_add(&w->b, l->s, l->len);
  tars_buf_add_eol(&w->b, l->eol);
  w->pending = l->eol == TARS_EOL_NONE;
}

/* Write the added line O.  With STRIP its trailing whitespace is dropped, and the line it
 * replaces (REPLACED, or NULL) gives its own back: a changed line keeps what it ended with.  */
static void
put_added(struct writer *w, const struct tars_ladder_op *o, const struct plan *pl, uint64_t mask,
          bool strip, const struct tars_line *replaced)
{
  if (w->pending)
    tars_buf_add_eol(&w->b, w->eol);
  const char *s = o->s;
  size_t len = strip ? rstrip_len(o->s, o->len) : o->len;
  if (!tars_line_blank(s, len))
    {
      size_t i = indent_len(s, len);
      put_indent(&w->b, pl, s, i);
      s += i;
      len -= i;
    }
  if (mask)
    {
      /* Folding never lengthens: fold straight into the buffer.  */
      size_t at = w->b.len;
      tars_buf_add(&w->b, s, len);
      if (!w->b.failed && len > 0)
        {
          w->b.len = at + fold_masked(s, len, mask, w->b.p + at);
          w->b.p[w->b.len] = '\0';
        }
    }
  else
    tars_buf_add(&w->b, s, len);
  if (strip && replaced && !tars_line_blank(o->s, o->len))
    {
      size_t keep = rstrip_len(replaced->s, replaced->len);
      tars_buf_add(&w->b, replaced->s + keep, replaced->len - keep);
    }
  tars_buf_add_eol(&w->b, w->eol);
  w->pending = false;
}

/* The line of F among [LO, HI) that is O but for its indentation and trailing whitespace: the
 * line O rewrites as it is.  */
static const struct tars_line *
same_line(const struct tars_lines *f, size_t lo, size_t hi, const struct tars_ladder_op *o)
{
  size_t oi = indent_len(o->s, o->len), on = rstrip_len(o->s, o->len);
  if (on <= oi)
    return NULL;
  for (size_t i = lo; i < hi; i++)
    {
      const struct tars_line *l = &f->v[i];
      size_t li = indent_len(l->s, l->len), ln = rstrip_len(l->s, l->len);
      if (ln - li == on - oi && memcmp(l->s + li, o->s + oi, on - oi) == 0)
        return l;
    }
  return NULL;
}

static int
emit(struct ladder *L, size_t lo, size_t hi, struct tars_ladder_result *res, struct tars_error *err)
{
  const struct tars_lines *f = L->file;
  const long *align = L->best;
  const struct plan *pl = &L->best_plan;
  uint64_t mask = 0;
  bool strip = false;

  /* Trailing whitespace on a new line is noise, unless the lines around have some (Markdown's
   * line breaks, a patch): then only when the search text's proved to be noise.  */
  strip = true;
  for (size_t i = lo; i < hi && strip; i++)
    strip = rstrip_len(f->v[i].s, f->v[i].len) == f->v[i].len;
  if (L->rung >= TARS_RUNG_TRAILING_SPACE)
    for (size_t k = 0; k < L->n_ops && !strip; k++)
      if (align[k] >= 0 && L->ops[k].op != '+')
        {
          const struct tars_line *fl = &f->v[align[k]];
          strip = rstrip_len(L->ops[k].s, L->ops[k].len) < L->ops[k].len &&
                  rstrip_len(fl->s, fl->len) == fl->len;
        }
  if (L->rung >= TARS_RUNG_PUNCTUATION)
    {
      /* The model's punctuation proved unlike the file's: what it adds is folded too, but for
       * the characters the file itself uses (a document with typographic quotes keeps them). */
      uint64_t in_file = 0;
      for (size_t i = 0; i < f->n; i++)
        in_file |= fold_mask(f->v[i].s, f->v[i].len);
      mask = UINT64_MAX & ~in_file;
    }

  struct writer w = {.eol = tars_lines_eol(f)};
  for (size_t i = 0; i < lo; i++)
    put_file_line(&w, &f->v[i]);
  size_t next = lo;
  /* In a run of removed lines followed by a run of added ones, the Nth added line replaces the
   * Nth removed one.  */
  size_t del_run = 0, del_at = 0, add_seen = 0;
  for (size_t k = 0; k < L->n_ops; k++)
    {
      const struct tars_ladder_op *o = &L->ops[k];
      if (o->op == '-')
        {
          if (k == 0 || L->ops[k - 1].op != '-')
            del_run = 0, del_at = k;
          del_run++;
          add_seen = 0;
        }
      else if (o->op == ' ')
        del_run = 0;
      if (o->op == '+')
        {
          const struct tars_line *replaced = NULL;
          if (strip)
            replaced = same_line(f, lo, hi, o);
          if (replaced == NULL && add_seen < del_run && align[del_at + add_seen] >= 0)
            replaced = &f->v[align[del_at + add_seen]];
          add_seen++;
          put_added(&w, o, pl, mask, strip, replaced);
        }
      else if (align[k] >= 0)
        {
          size_t j = (size_t)align[k];
          for (; next < j; next++)
            put_file_line(&w, &f->v[next]);
          if (o->op == ' ')
            put_file_line(&w, &f->v[j]);
          next = j + 1;
        }
    }
  for (; next < hi; next++)
    put_file_line(&w, &f->v[next]);
  for (size_t i = hi; i < f->n; i++)
    put_file_line(&w, &f->v[i]);
  /* A file without a final newline keeps it that way.  */
  if (f->n > 0 && f->v[f->n - 1].eol == TARS_EOL_NONE && !w.pending && w.b.len > 0)
    {
      if (w.b.len >= 2 && w.b.p[w.b.len - 2] == '\r' && w.b.p[w.b.len - 1] == '\n')
        w.b.len -= 2;
      else if (w.b.p[w.b.len - 1] == '\n')
        w.b.len--;
      w.b.p[w.b.len] = '\0';
    }
  res->content = tars_buf_steal(&w.b, &res->len, err);
  return res->content ? 0 : -1;
}

static void
ladder_free(struct ladder *L)
{
  free(L->ops);
  free(L->fn);
  free(L->on);
  free(L->fold_file);
  free(L->fold_ops);
  free(L->fnb);
  free(L->sl);
  free(L->snb);
  free(L->align);
  free(L->best);
  free(L->pos);
}

int
tars_ladder_apply(const struct tars_lines *file, const struct tars_ladder_op *ops, size_t n_ops,
                  struct tars_ladder_result *res, struct tars_error *err)
{
  memset(res, 0, sizeof *res);
  res->status = TARS_EDIT_NO_MATCH;
  __attribute__((cleanup(ladder_free))) struct ladder L = {.file = file, .n_ops = n_ops};
  size_t ops_len = 0, len = 0;
  for (size_t k = 0; k < n_ops; k++)
    ops_len += ops[k].len;
  for (size_t i = 0; i < file->n; i++)
    len += file->v[i].len;
  size_t n = file->n ? file->n : 1, m = n_ops ? n_ops : 1;
  L.ops = malloc(m * sizeof *L.ops);
  L.fn = malloc(n * sizeof *L.fn);
  L.on = malloc(m * sizeof *L.on);
  L.fold_file = malloc(len + 1);
  L.fold_ops = malloc(ops_len + 1);
  L.fnb = malloc(n * sizeof *L.fnb);
  L.sl = malloc(m * sizeof *L.sl);
  L.snb = malloc(m * sizeof *L.snb);
  L.align = malloc(m * sizeof *L.align);
  L.best = malloc(m * sizeof *L.best);
  L.pos = malloc(m * sizeof *L.pos);
  if (!L.ops || !L.fn || !L.on || !L.fold_file || !L.fold_ops || !L.fnb || !L.sl || !L.snb ||
      !L.align || !L.best || !L.pos)
    return tars_error_set(err, ENOMEM, "cannot match an edit against %zu lines", file->n);
  memcpy(L.ops, ops, n_ops * sizeof *ops);

  for (int r = TARS_RUNG_EXACT; r < TARS_RUNG_COUNT; r++)
    {
      prepare(&L, (enum tars_edit_rung)r);
      size_t count = match(&L, res);
      if (count == 0)
        continue;
      res->rung = (enum tars_edit_rung)r;
      if (count > 1)
        {
          res->status = TARS_EDIT_AMBIGUOUS;
          res->n_places = count;
          return 0;
        }
      size_t lo, hi;
      region_of(&L, L.best, &lo, &hi);
      if (r != TARS_RUNG_DRIFT)
        extend_cut(&L, &lo, &hi, res);
      res->lo = lo, res->hi = hi;
      if (emit(&L, lo, hi, res, err) < 0)
        return -1;
      res->status = TARS_EDIT_APPLIED;
      return 0;
    }
  return 0;
}

/* ----- the closest region ----- */

/* Similarity of two lines: the Dice coefficient of their character bigrams, which is cheap and
 * forgiving of the small differences (a renamed variable, a changed quote) that make a search
 * text miss.  */
struct bigrams
{
  uint16_t *v;
  size_t n;
};

static int
cmp_u16(const void *a, const void *b)
{
  return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static void
bigrams_of(const char *s, size_t len, uint16_t *out, struct bigrams *bg)
{
  bg->v = out;
  bg->n = len >= 2 ? len - 1 : 0;
  for (size_t i = 0; i + 1 < len; i++)
    out[i] = (uint16_t)((unsigned char)s[i] << 8 | (unsigned char)s[i + 1]);
  qsort(out, bg->n, sizeof *out, cmp_u16);
}

static double
dice(const struct nline *a, const struct bigrams *ba, const struct nline *b,
     const struct bigrams *bb)
{
  if (nline_eq(a, b))
    return 1.0;
  if (ba->n == 0 || bb->n == 0)
    return 0.0;
  size_t i = 0, j = 0, common = 0;
  while (i < ba->n && j < bb->n)
    {
      if (ba->v[i] == bb->v[j])
        common++, i++, j++;
      else if (ba->v[i] < bb->v[j])
        i++;
      else
        j++;
    }
  return 2.0 * (double)common / (double)(ba->n + bb->n);
}

/* Above this many line pairs only equal lines count as alike, and above the second there is no
 * "did you mean" at all: the feedback is a hint, not worth unbounded time or memory.  */
#define NEAREST_MAX_PAIRS (1u << 23)
#define NEAREST_MAX_CELLS (1u << 25)

int
tars_ladder_nearest(const struct tars_lines *file, const struct tars_ladder_op *ops, size_t n_ops,
                    struct tars_nearest *out, struct tars_error *err)
{
  memset(out, 0, sizeof *out);
  size_t flen = 0, olen = 0;
  for (size_t i = 0; i < file->n; i++)
    flen += file->v[i].len;
  for (size_t k = 0; k < n_ops; k++)
    olen += ops[k].len;
  cleanup_free char *ffold = malloc(flen + 1), *ofold = malloc(olen + 1);
  cleanup_free struct nline *fl = malloc((file->n + 1) * sizeof *fl);
  cleanup_free struct nline *sl = malloc((n_ops + 1) * sizeof *sl);
  cleanup_free size_t *fidx = malloc((file->n + 1) * sizeof *fidx);
  cleanup_free size_t *sidx = malloc((n_ops + 1) * sizeof *sidx);
  if (!ffold || !ofold || !fl || !sl || !fidx || !sidx)
    return tars_error_set(err, ENOMEM, "cannot look for the closest region");
  size_t nf = 0, ns = 0;
  char *p = ffold;
  for (size_t i = 0; i < file->n; i++)
    {
      struct nline l = normalise(file->v[i].s, file->v[i].len, TARS_RUNG_PUNCTUATION, &p);
      if (!l.blank)
        fl[nf] = l, fidx[nf++] = i;
    }
  p = ofold;
  for (size_t k = 0; k < n_ops; k++)
    if (ops[k].op != '+')
      {
        struct nline l = normalise(ops[k].s, ops[k].len, TARS_RUNG_PUNCTUATION, &p);
        if (!l.blank)
          sl[ns] = l, sidx[ns++] = k;
      }
  if (nf == 0 || ns == 0)
    return 0;

  if (nf > NEAREST_MAX_CELLS / ns)
    return 0;
  bool fuzzy = nf * ns <= NEAREST_MAX_PAIRS;
  /* Likeness in 1/255ths: a byte a pair.  */
  cleanup_free uint8_t *sim = malloc(nf * ns * sizeof *sim);
  if (sim == NULL)
    return tars_error_set(err, ENOMEM, "cannot look for the closest region");
  {
    cleanup_free uint16_t *fbg_store = malloc((flen + 1) * sizeof *fbg_store);
    cleanup_free uint16_t *sbg_store = malloc((olen + 1) * sizeof *sbg_store);
    cleanup_free struct bigrams *fbg = malloc(nf * sizeof *fbg);
    cleanup_free struct bigrams *sbg = malloc(ns * sizeof *sbg);
    if (!fbg_store || !sbg_store || !fbg || !sbg)
      return tars_error_set(err, ENOMEM, "cannot look for the closest region");
    size_t o = 0;
    for (size_t i = 0; i < nf; o += fl[i].len, i++)
      bigrams_of(fl[i].s, fl[i].len, fbg_store + o, &fbg[i]);
    o = 0;
    for (size_t i = 0; i < ns; o += sl[i].len, i++)
      bigrams_of(sl[i].s, sl[i].len, sbg_store + o, &sbg[i]);
    for (size_t i = 0; i < ns; i++)
      for (size_t j = 0; j < nf; j++)
        sim[i * nf + j] = (uint8_t)(255.0 * (fuzzy ? dice(&sl[i], &sbg[i], &fl[j], &fbg[j])
                                                   : (double)nline_eq(&sl[i], &fl[j])));
  }

  /* Each search line scores its best likeness with the file line at its place in the window or
   * one off, so that a search text missing or adding a line still finds its region.  */
  size_t m = ns < nf ? ns : nf, windows = nf - m + 1;
  double best = -1;
  size_t best_p = 0;
  for (size_t w = 0; w < windows; w++)
    {
      double score = 0;
      for (size_t i = 0; i < ns; i++)
        {
          unsigned s = 0;
          for (long d = -1; d <= 1; d++)
            {
              long j = (long)(w + i) + d;
              if (j >= (long)w && j < (long)(w + m) && sim[i * nf + j] > s)
                s = sim[i * nf + j];
            }
          score += s / 255.0;
        }
      if (score > best)
        best = score, best_p = w;
    }
  if (best < 0.3 * (double)ns)
    return 0;
  out->found = true;
  out->lo = fidx[best_p];
  out->hi = fidx[best_p + m - 1] + 1;
  for (size_t i = 0; i < m; i++)
    if (!nline_eq(&sl[i], &fl[best_p + i]))
      {
        out->differs = true;
        out->line = fidx[best_p + i];
        out->op = sidx[i];
        break;
      }
  return 0;
}
