/* Network namespace set-up: bring the loopback interface up, with libnl-route.
 *
 * This runs in the sandbox init on every start with --net loopback, so it does one lookup and one
 * change on a single netlink socket and nothing else.  */
#include <errno.h>
#include <net/if.h>

#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include "internal.h"
#include "tars/cleanup.h"

/* libnl reports its own error codes; map the ones a caller may want to act on back to errno.  */
static int
nl_to_errno(int nlerr)
{
  switch (nlerr < 0 ? -nlerr : nlerr)
    {
    case NLE_PERM:
      return EPERM;
    case NLE_NOACCESS:
      return EACCES;
    case NLE_NOMEM:
      return ENOMEM;
    case NLE_BUSY:
      return EBUSY;
    case NLE_INVAL:
      return EINVAL;
    case NLE_OPNOTSUPP:
      return EOPNOTSUPP;
    case NLE_NODEV:
    case NLE_OBJ_NOTFOUND:
      return ENODEV;
    default:
      return 0;
    }
}

static int
nl_fail(struct tars_error *err, int nlerr, const char *op)
{
  tars_error_set(err, 0, "bring lo up: %s: %s", op, nl_geterror(nlerr));
  if (err)
    err->code = nl_to_errno(nlerr);
  return -1;
}

int
tars_net_loopback_up(struct tars_error *err)
{
  cleanup_nl_sock struct nl_sock *sock = nl_socket_alloc();
  if (sock == NULL)
    return tars_error_set(err, ENOMEM, "bring lo up: nl_socket_alloc");

  int r = nl_connect(sock, NETLINK_ROUTE);
  if (r < 0)
    return nl_fail(err, r, "nl_connect NETLINK_ROUTE");

  cleanup_rtnl_link struct rtnl_link *link = NULL;
  r = rtnl_link_get_kernel(sock, 0, "lo", &link);
  if (r < 0)
    return nl_fail(err, r, "rtnl_link_get_kernel lo");
  if (rtnl_link_get_flags(link) & IFF_UP)
    return 0;

  cleanup_rtnl_link struct rtnl_link *change = rtnl_link_alloc();
  if (change == NULL)
    return tars_error_set(err, ENOMEM, "bring lo up: rtnl_link_alloc");
  rtnl_link_set_flags(change, IFF_UP);

  r = rtnl_link_change(sock, link, change, 0);
  if (r < 0)
    return nl_fail(err, r, "rtnl_link_change lo IFF_UP");
  return 0;
}
