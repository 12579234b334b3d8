#include "log_file.hpp"

#include <cstdio>
#include <string>
#include <system_error>

#include <spdlog/common.h>

namespace mempool::server {

void LogFile::open_locked(const std::filesystem::path& file) {
  if (file_) helper_.close();
  file_.reset();
  try {
    helper_.open(file.string(), false);
  } catch (const spdlog::spdlog_ex& e) {
    throw std::system_error(std::make_error_code(std::errc::io_error), e.what());  // names the file and errno
  }
  file_ = file;
}

void LogFile::open(const std::filesystem::path& file, unsigned tag) {
  const std::lock_guard lock(mutex_);
  if (file_) helper_.flush();
  open_locked(file);
  tag_ = tag;  // only once open: a failed switch leaves the tag its lines are written in
}

bool LogFile::write_tagged(std::string_view line, unsigned tag) {
  const std::lock_guard lock(mutex_);
  if (tag != tag_) return false;
  if (!file_ && !stderr_when_closed_) return true;
  spdlog::memory_buf_t out;
  out.append(line);
  out.push_back('\n');
  if (file_) {
    helper_.write(out);
  } else {
    std::fwrite(out.data(), 1, out.size(), stderr);
  }
  return true;
}

void LogFile::close() {
  const std::lock_guard lock(mutex_);
  if (!file_) return;
  helper_.close();
  file_.reset();
}

void LogFile::reopen() {
  const std::lock_guard lock(mutex_);
  if (!file_) return;
  helper_.flush();
  open_locked(std::filesystem::path(*file_));
}

std::optional<std::filesystem::path> LogFile::file() {
  const std::lock_guard lock(mutex_);
  return file_;
}

void LogFile::sink_it_(const spdlog::details::log_msg& msg) {
  if (!file_ && !stderr_when_closed_) return;
  spdlog::memory_buf_t line;
  formatter_->format(msg, line);
  if (file_) {
    helper_.write(line);
  } else {
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
}

void LogFile::flush_() {
  if (file_) {
    helper_.flush();
  } else if (stderr_when_closed_) {
    std::fflush(stderr);
  }
}

}  // namespace mempool::server
