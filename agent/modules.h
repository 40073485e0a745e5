/*
 * modules.h: the PKCS#11 modules registered with p11-kit, the agent's
 * default when neither the command line nor the config names any.
 */
#ifndef CARDAGENT_MODULES_H
#define CARDAGENT_MODULES_H

struct config;

/*
 * Adds the path of every module p11-kit has registered for this user to c,
 * leaving out trust-policy modules (they hold no keys) and cardagent's own
 * forwarding module (it would loop back into the agent). Loading a module
 * runs vendor code, so the lookup runs in a child process. Returns the
 * number of modules added, or -1.
 */
int modules_registered(struct config *c);

#endif
