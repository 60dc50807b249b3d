#!/usr/bin/env bash
# WordPress as tests/test_wordpress.py runs it: PHP from Debian, and Debian's wordpress package
# unpacked (not installed: no web server, no database) into .cache/wordpress of the checkout.
# Idempotent: installs only what is missing; a second run does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
has_php_extension() {
  command -v php >/dev/null && php -r "exit(extension_loaded('$1') ? 0 : 1);"
}
need=()
command -v php >/dev/null || need+=(php-cli)
has_php_extension dom || need+=(php-xml)
has_php_extension mbstring || need+=(php-mbstring)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
dest=.cache/wordpress
if [ ! -f "$dest/usr/share/wordpress/wp-includes/class-simplepie.php" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # apt-get download writes into the current directory; _apt needs to be able to write there.
  chmod 0777 "$work"
  (cd "$work" && apt-get download wordpress >/dev/null 2>&1 || {
    apt-get update -qq && apt-get download wordpress >/dev/null
  })
  rm -rf "$dest.partial"
  mkdir -p "$dest.partial"
  dpkg-deb -x "$work"/wordpress_*.deb "$dest.partial"
  rm -rf "$dest"
  mv "$dest.partial" "$dest"
fi
