// A JavaScript output transform in a file: the default export and a named function.
module.exports = (output, context) => output.split(' ').reverse().join(' ');
module.exports.firstWord = (output) => output.split(' ')[0];
