module github.com/tenantrun/tenantrun/conformance

go 1.26

require (
	github.com/blang/semver v3.5.1+incompatible
	github.com/hashicorp/go-multierror v1.0.0
	github.com/mndrix/tap-go v0.0.0-20171203230836-629fa407e90b
	github.com/mrunalp/fileutils v0.0.0-20171103030105-7d4729fb3618
	github.com/opencontainers/runtime-spec v1.0.2
	github.com/opencontainers/runtime-tools v0.9.0
	github.com/opencontainers/selinux v1.0.0
	github.com/satori/go.uuid v1.2.0
	github.com/sirupsen/logrus v1.4.2
	github.com/syndtr/gocapability v0.0.0-20180916011248-d98352740cb2
	github.com/urfave/cli v1.22.17
	github.com/xeipuuv/gojsonschema v1.1.0
)

require (
	github.com/xeipuuv/gojsonpointer v0.0.0-20190905194746-02993c407bfb // indirect
	github.com/xeipuuv/gojsonreference v0.0.0-20180127040603-bd5ef7bd5415 // indirect
)
