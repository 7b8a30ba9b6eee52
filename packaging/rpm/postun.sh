# %postun of wad (%systemd_postun, without restart: see %post): let systemd
# forget the removed units. rpm removes /etc/wad/wad.toml unless it was
# changed (then it is kept as .rpmsave); the state directory /var/lib/wad
# and the user wad stay, as Fedora's convention has it.
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
fi
