# %preun of wad (%systemd_preun): on erase, disable and stop both units.
# On an upgrade nothing stops: the running daemon keeps its logins.
if [ "$1" -eq 0 ]; then
	systemctl --no-reload disable --now wad.service wad.socket >/dev/null 2>&1 || :
fi
