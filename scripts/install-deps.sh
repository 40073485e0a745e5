#!/usr/bin/env bash
# Installs every build and test dependency of cardagent from Debian packages.
# Idempotent: when everything is present it only checks and exits.
set -euo pipefail

pkgs=(
	build-essential cmake pkg-config clang libclang-rt-14-dev
	libssl-dev openssl
	libp11-kit-dev p11-kit p11-kit-modules
	libcmocka-dev
	softhsm2 opensc
	pcscd vsmartcard-vpcd libpcsclite1 opensc-pkcs11 iproute2 python3-cryptography
	libcacard-dev
	pinentry-curses
	util-linux
	python3-minimal
	gpgsm gpg-agent gnupg-pkcs11-scd libnss3-tools
	systemd time libengine-pkcs11-openssl openssh-client openssh-server valgrind
	mandoc bash-completion
	dpkg-dev udev
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null ||
	    missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
