// Package pb holds the Witnet P2P protobuf schema (witnet.proto) and the Go code
// generated from it. Nothing here is written by hand except this file: the rules that
// make the generated types byte-compatible with the network (every singular sub-message
// set, canonical re-encoding before hashing) live in package protocol.
//
// Regenerate with `go generate ./...` from the repository root. It needs protoc from
// Debian's protobuf-compiler package (3.21.12 produced the committed file); protoc-gen-go
// is pinned as a tool in go.mod, so the output is identical on every machine.
package pb

//go:generate go build -o protoc-gen-go.bin google.golang.org/protobuf/cmd/protoc-gen-go
//go:generate protoc --plugin=protoc-gen-go=protoc-gen-go.bin --go_out=. --go_opt=paths=source_relative witnet.proto
//go:generate rm -f protoc-gen-go.bin
