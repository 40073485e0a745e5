/*
 * errors.c: the one place where the agent's statuses become CKR_* values
 * (the agent's token hosts map the other way, agent/p11err.c).
 */
#include "module.h"

CK_RV
cp_rv(int status, enum cp_what what)
{
	switch (status) {
	case CA_OK:
		return CKR_OK;
	case CA_E_UNSUPPORTED:
		return CKR_MECHANISM_INVALID;
	case CA_E_NO_KEY:
		/* Agent ids cover the token's identity: an id the agent no
		 * longer knows is a card pulled or replaced. */
		return CKR_DEVICE_REMOVED;
	case CA_E_NOT_ALLOWED:
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	case CA_E_PIN_INCORRECT:
		return CKR_PIN_INCORRECT;
	case CA_E_PIN_LOCKED:
		return CKR_PIN_LOCKED;
	case CA_E_PIN_REQUIRED:
		/* No PIN, and no pinentry to ask for one. */
		return what == CP_FOR_TOKEN ? CKR_FUNCTION_FAILED :
		    CKR_USER_NOT_LOGGED_IN;
	case CA_E_CANCELLED:
		return CKR_FUNCTION_CANCELED;
	case CA_E_TOKEN_ABSENT:
		return CKR_DEVICE_REMOVED;
	case CA_E_BAD_INPUT:
		switch (what) {
		case CP_FOR_SIGN:
			return CKR_DATA_LEN_RANGE;
		case CP_FOR_DECRYPT:
			/* Bad padding included: one answer for every failure. */
			return CKR_ENCRYPTED_DATA_INVALID;
		case CP_FOR_DERIVE:
			return CKR_MECHANISM_PARAM_INVALID;
		case CP_FOR_TOKEN:
			return CKR_ARGUMENTS_BAD;
		}
		return CKR_ARGUMENTS_BAD;
	case CA_E_BUSY:
		return CKR_FUNCTION_FAILED;
	case CA_E_DENIED:
		/* The user said no to a confirmation, or policy refused. */
		return CKR_FUNCTION_REJECTED;
	case CA_E_PROTOCOL:
	case CA_E_VERSION:
	case CA_E_TOKEN_TIMEOUT:
	case CA_E_TOKEN_FAILED:
	case CA_E_INTERNAL:
	case CAC_E_NO_AGENT:
	case CAC_E_IO:
		return CKR_DEVICE_ERROR;
	}
	return CKR_DEVICE_ERROR;
}
