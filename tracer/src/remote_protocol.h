// Private to the tracer library: the hello/reply exchange that opens every serve/view connection
// (docs/cli/serve.md, "Protocol") and the socket helpers both sides share. After an accepting
// reply the server sends a recording byte stream and never reads from the viewer again.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>

namespace layertrace::tracer::remote {

inline constexpr std::array<char, 4> kHelloMagic = {'L', 'T', 'V', 'H'}; // viewer -> server
inline constexpr std::array<char, 4> kReplyMagic = {'L', 'T', 'V', 'R'}; // server -> viewer
inline constexpr std::uint16_t kProtocolVersion = 1;
inline constexpr std::size_t kHelloFixedSize = 8;  // magic, u16 version, u16 token length
inline constexpr std::size_t kReplyFixedSize = 7;  // magic, u8 status, u16 message length
inline constexpr std::size_t kMaxTokenBytes = 256; // also the largest hello a server reads
inline constexpr std::size_t kMaxMessageBytes = 1024;

enum class ReplyStatus : std::uint8_t {
    Accepted = 0,        // the recording stream follows
    BadToken = 1,        // missing or wrong token
    BadVersion = 2,      // the server speaks another protocol version
    TooManyViewers = 3,  // the server's viewer limit is reached
};

std::string encodeHello(const std::string& token);
std::string encodeReply(ReplyStatus status, const std::string& message);

// Equal contents, in a time that depends only on expected.size() (never on where they differ).
bool constantTimeEquals(const std::string& expected, const std::string& presented);

// Writes all of `data` (MSG_NOSIGNAL: a gone viewer is an error, not SIGPIPE). Empty on success,
// else the reason.
std::string sendAll(int fd, const char* data, std::size_t size);

// Reads exactly `size` bytes before `deadline`. False on timeout, end of stream or error (`why`).
bool readExactly(int fd, char* out, std::size_t size, std::chrono::steady_clock::time_point deadline,
                 std::string& why);

// "1.2.3.4:5678" / "[::1]:5678" of a connected peer or a bound socket.
std::string peerName(int fd);
std::string localName(int fd);

} // namespace layertrace::tracer::remote
