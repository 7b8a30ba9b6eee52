package daemon

// SetAccessForTest installs access rules without the root and own-user
// exemptions, so tests running as root can meet a denial.
func SetAccessForTest(d *Daemon, rules []AccessRule) error {
	for i := range rules {
		if err := rules[i].compile(); err != nil {
			return err
		}
	}
	d.pol.Store(&accessPolicy{rules: rules, self: -1, strict: true})
	return nil
}

// HangupPoll is how often a long call looks for its caller's hang-up.
const HangupPoll = hangupPoll
