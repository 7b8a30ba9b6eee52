// Package packaging builds wad's .deb and .rpm packages and owns what goes
// into them besides the binaries: the systemd units (wad.service,
// wad.socket), sysusers.d and tmpfiles.d entries, the maintainer scripts,
// the package metadata (nfpm.yaml) and the version scheme derived from
// git describe. Build writes the packages with nfpm used as a library;
// packaging/mkpkg is its command (`make packages`). The package's tests
// check the packages with lintian, rpm and systemd-analyze, and the e2e
// test (build tag e2e, `make e2e`) installs the .deb into a booted systemd
// container and drives wad the way an admin would.
package packaging
