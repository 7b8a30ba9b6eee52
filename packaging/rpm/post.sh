# %post of wad: the system user (as %sysusers_create_package would), the
# state directory (%tmpfiles_create), and on a first install the presets
# (%systemd_post: the distribution's preset policy decides whether
# wad.socket and wad.service are enabled; `systemctl enable --now
# wad.socket` does it by hand). On an upgrade, a running wad.service is
# restarted only if /etc/sysconfig/wad sets RESTART_ON_UPGRADE=yes, because
# a restart logs every WhatsApp session out.
systemd-sysusers wad.conf >/dev/null 2>&1 || :
systemd-tmpfiles --create wad.conf >/dev/null 2>&1 || :
if [ "$1" -eq 1 ]; then
	systemctl --no-reload preset wad.socket wad.service >/dev/null 2>&1 || :
elif [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
	if systemctl --quiet is-active wad.service; then
		v=$(sed -n 's/^[[:space:]]*RESTART_ON_UPGRADE[[:space:]]*=[[:space:]]*//p' /etc/sysconfig/wad 2>/dev/null | tail -n 1 | tr -d "\"' ")
		case "$v" in
		[Yy][Ee][Ss] | [Tt][Rr][Uu][Ee] | 1)
			echo "wad: restarting wad.service (RESTART_ON_UPGRADE=yes in /etc/sysconfig/wad); every WhatsApp session must log in again."
			systemctl try-restart wad.service >/dev/null 2>&1 || :
			;;
		*)
			echo "wad: wad.service was not restarted, so every login stays; it runs the old version until 'systemctl restart wad', which logs every session out. Set RESTART_ON_UPGRADE=yes in /etc/sysconfig/wad to restart on upgrades."
			;;
		esac
	fi
fi
