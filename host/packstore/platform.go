package packstore

import (
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// Platform is the operating system and architecture a binary is built
// for, in Go's words (GOOS, GOARCH).
type Platform struct{ OS, Arch string }

func (p Platform) String() string { return p.OS + "/" + p.Arch }

// ErrUnknownFormat is wrapped by PlatformOf when a file is not an ELF,
// Mach-O or PE executable it can read.
var ErrUnknownFormat = errors.New("not an ELF, Mach-O or PE executable")

// ErrWrongPlatform is wrapped by Cache.Path when a pack's binary is built
// for another platform than the agent's.
var ErrWrongPlatform = errors.New("pack binary built for another platform")

// PlatformOf reads the platform of the executable at path from its
// header: ELF (Linux and the BSDs), Mach-O (darwin) or PE (windows).
func PlatformOf(path string) (Platform, error) {
	f, err := os.Open(path)
	if err != nil {
		return Platform{}, err
	}
	defer f.Close()
	p, err := platformOf(f)
	if err != nil {
		return Platform{}, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

func platformOf(r io.ReaderAt) (Platform, error) {
	var magic [4]byte
	if _, err := r.ReadAt(magic[:], 0); err != nil {
		return Platform{}, ErrUnknownFormat
	}
	switch {
	case string(magic[:]) == elf.ELFMAG:
		return elfPlatform(r)
	case magic[0] == 'M' && magic[1] == 'Z':
		return pePlatform(r)
	}
	switch binary.LittleEndian.Uint32(magic[:]) {
	case macho.Magic32, macho.Magic64:
		return machoPlatform(r)
	}
	switch binary.BigEndian.Uint32(magic[:]) {
	case macho.Magic32, macho.Magic64:
		return machoPlatform(r)
	case macho.MagicFat:
		return Platform{}, fmt.Errorf("%w: a universal Mach-O binary", ErrUnknownFormat)
	}
	return Platform{}, ErrUnknownFormat
}

func elfPlatform(r io.ReaderAt) (Platform, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return Platform{}, fmt.Errorf("%w: %v", ErrUnknownFormat, err)
	}
	var p Platform
	switch f.OSABI {
	case elf.ELFOSABI_NONE, elf.ELFOSABI_LINUX:
		p.OS = "linux"
	case elf.ELFOSABI_FREEBSD:
		p.OS = "freebsd"
	case elf.ELFOSABI_NETBSD:
		p.OS = "netbsd"
	case elf.ELFOSABI_OPENBSD:
		p.OS = "openbsd"
	case elf.ELFOSABI_SOLARIS:
		p.OS = "solaris"
	default:
		return Platform{}, fmt.Errorf("%w: ELF for OS ABI %v", ErrUnknownFormat, f.OSABI)
	}
	le := f.ByteOrder == binary.LittleEndian
	is64 := f.Class == elf.ELFCLASS64
	switch f.Machine {
	case elf.EM_X86_64:
		p.Arch = "amd64"
	case elf.EM_386:
		p.Arch = "386"
	case elf.EM_AARCH64:
		p.Arch = "arm64"
	case elf.EM_ARM:
		p.Arch = "arm"
	case elf.EM_RISCV:
		p.Arch = "riscv64"
	case elf.EM_S390:
		p.Arch = "s390x"
	case elf.EM_LOONGARCH:
		p.Arch = "loong64"
	case elf.EM_PPC64:
		p.Arch = pick(le, "ppc64le", "ppc64")
	case elf.EM_MIPS:
		p.Arch = pick(is64, pick(le, "mips64le", "mips64"), pick(le, "mipsle", "mips"))
	default:
		return Platform{}, fmt.Errorf("%w: ELF for machine %v", ErrUnknownFormat, f.Machine)
	}
	return p, nil
}

func machoPlatform(r io.ReaderAt) (Platform, error) {
	f, err := macho.NewFile(r)
	if err != nil {
		return Platform{}, fmt.Errorf("%w: %v", ErrUnknownFormat, err)
	}
	p := Platform{OS: "darwin"}
	switch f.Cpu {
	case macho.CpuAmd64:
		p.Arch = "amd64"
	case macho.CpuArm64:
		p.Arch = "arm64"
	default:
		return Platform{}, fmt.Errorf("%w: Mach-O for CPU %v", ErrUnknownFormat, f.Cpu)
	}
	return p, nil
}

func pePlatform(r io.ReaderAt) (Platform, error) {
	f, err := pe.NewFile(r)
	if err != nil {
		return Platform{}, fmt.Errorf("%w: %v", ErrUnknownFormat, err)
	}
	p := Platform{OS: "windows"}
	switch f.Machine {
	case pe.IMAGE_FILE_MACHINE_AMD64:
		p.Arch = "amd64"
	case pe.IMAGE_FILE_MACHINE_I386:
		p.Arch = "386"
	case pe.IMAGE_FILE_MACHINE_ARM64:
		p.Arch = "arm64"
	case pe.IMAGE_FILE_MACHINE_ARMNT:
		p.Arch = "arm"
	default:
		return Platform{}, fmt.Errorf("%w: PE for machine %#x", ErrUnknownFormat, f.Machine)
	}
	return p, nil
}

func pick(c bool, yes, no string) string {
	if c {
		return yes
	}
	return no
}
