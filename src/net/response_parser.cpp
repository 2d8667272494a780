#include <boost/asio/buffer.hpp>

#include "net/response_reader.hpp"
#include "tokend/net/https_client.hpp"

namespace tokend::net {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

namespace {

// A SyncReadStream over bytes in memory, handed out `read_size` bytes at a
// time, then end of file: a server that sends `bytes` and closes.
class BytesStream {
 public:
  BytesStream(std::string_view bytes, std::size_t read_size)
      : bytes_(bytes), read_size_(read_size == 0 ? bytes.size() + 1 : read_size) {}

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, error_code& ec) {
    if (bytes_.empty()) {
      ec = asio::error::eof;
      return 0;
    }
    ec = {};
    const std::size_t n = asio::buffer_copy(buffers, asio::buffer(bytes_.data(), std::min(read_size_, bytes_.size())));
    bytes_.remove_prefix(n);
    return n;
  }

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    error_code ec;
    const std::size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  std::string_view bytes_;
  std::size_t read_size_;
};

}  // namespace

Result<ClientResponse> parse_response(std::string_view bytes, std::size_t max_header_bytes, std::size_t max_body_bytes,
                                      std::size_t read_size) {
  ResponseReader reader(max_header_bytes, max_body_bytes);
  BytesStream stream(bytes, read_size);
  error_code ec;
  const std::size_t transferred = bhttp::read_header(stream, reader.buffer, reader.parser, ec);
  if (ec) return ResponseReader::read_error(ec);
  if (auto st = reader.check_header(transferred); !st) return st.error();
  bhttp::read(stream, reader.buffer, reader.parser, ec);
  if (ec) return ResponseReader::read_error(ec);
  return reader.release();
}

}  // namespace tokend::net
