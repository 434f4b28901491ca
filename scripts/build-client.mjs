console.log('client build placeholder')
